package builtin

import (
	"errors"
	"net/http"

	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/httperr"
)

// writeBodyError answers a failed body read: 413 over a size limit, else 400.
func writeBodyError(w http.ResponseWriter, err error, reqID string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, http1.ErrBodyTooLarge) {
		httperr.Write(w, http.StatusRequestEntityTooLarge, "request body too large", reqID)
		return
	}
	httperr.Write(w, http.StatusBadRequest, "could not read request body", reqID)
}
