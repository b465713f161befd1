package webpush

import (
	"errors"
	"net"
	"net/url"
)

// isNetErr says err comes from the network (dial, TLS, reset), not from
// building the request: those are worth retrying.
func isNetErr(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}
