//go:build !linux

package app

// releaseStartupPages is Linux-only (see pages_linux.go).
func releaseStartupPages() (int64, error) { return 0, nil }
