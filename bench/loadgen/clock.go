package main

import "time"

// base is the zero of all times in this program; now() is nanoseconds since
// base on Go's monotonic clock (CLOCK_MONOTONIC, read through the vDSO).
var base = time.Now()

func now() int64 { return int64(time.Since(base)) }
