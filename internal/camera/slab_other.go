//go:build !unix

package camera

import "os"

// allocSlab: without mmap the slab is an ordinary heap buffer.
func allocSlab(n int) ([]byte, bool) { return make([]byte, n), false }

func freeSlab([]byte)                  {}
func releaseSlab([]byte, int, int)     {}
func residentSlab(_ []byte, n int) int { p := os.Getpagesize(); return (n + p - 1) / p * p }
