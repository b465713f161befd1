//go:build !unix

package camera

// allocSlab: without mmap the slab is an ordinary heap buffer.
func allocSlab(n int) []byte { return make([]byte, n) }

func freeSlab([]byte) {}
