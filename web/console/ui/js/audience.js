// Viewer figures from GET /api/v1/streams/{name}/audience, polled while a page shows them.
// A server without the route (404 "no such API route") is remembered: the figures stay "—".
import { api, features } from './core.js';

const cache = new Map(); // stream -> audience answer

export function audienceOf(name) { return cache.get(name); }

export async function fetchAudience(name) {
  if (!features.audience) return null;
  try {
    const a = await api('GET', '/streams/' + encodeURIComponent(name) + '/audience');
    cache.set(name, a);
    return a;
  } catch (e) {
    if (e.status === 404 && /no such API route/.test(e.message)) features.audience = false;
    return null;
  }
}

// pollAudience asks for the audience of names() every 5 s and calls done after each round.
export function pollAudience(names, done) {
  let stopped = false;
  let timer = 0;
  const round = async () => {
    if (stopped || !features.audience) return;
    await Promise.all(names().map(fetchAudience));
    if (stopped) return;
    done();
    timer = setTimeout(round, 5000);
  };
  round();
  return () => { stopped = true; clearTimeout(timer); };
}
