//go:build linux || darwin

package app

import "syscall"

// statDisk reads the filesystem that holds path.
func statDisk(path string) (diskInfo, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(path, &fs); err != nil {
		return diskInfo{}, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return diskInfo{}, err
	}
	const readOnly = 1 // ST_RDONLY on Linux, MNT_RDONLY on macOS
	// The field types differ between systems (uint64 here, 32-bit on macOS): the
	// conversions are needed somewhere.
	return diskInfo{
		Free:     uint64(fs.Bavail) * uint64(fs.Bsize), //nolint:unconvert // see above
		ReadOnly: uint64(fs.Flags)&readOnly != 0,
		Device:   uint64(st.Dev), //nolint:unconvert // see above
	}, nil
}
