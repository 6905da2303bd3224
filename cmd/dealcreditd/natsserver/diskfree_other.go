//go:build !unix

package natsserver

// diskFree is unknown on this platform.
func diskFree(string) (uint64, bool) { return 0, false }
