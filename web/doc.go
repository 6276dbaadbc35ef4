// Package web is Beffroi's HTTP side: the REST API under /api/v1, health and Prometheus
// metrics (and, later, the console, public pages, HLS and WebRTC endpoints).
package web
