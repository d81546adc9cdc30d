package reqctx

import "unsafe"

// unsafeString views b as a string; b is State.idBuf, which lives as long as
// the State and is only rewritten by the next NewID on the same State.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
