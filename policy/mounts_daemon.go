package policy

// Lookups at the daemon, for policies that judge what a call names by
// what it is (a volume, a container, an image): past every hook, bounded
// by the hook's context and by lookupTimeout.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxLookupBody bounds an inspect answer read; inspect answers are small.
const maxLookupBody = 8 << 20

// daemonGet GETs path (unversioned: the daemon's own API version) from the
// daemon and decodes its JSON answer into v. found is false when the
// daemon answers 404: no such object.
func daemonGet(ctx context.Context, rt http.RoundTripper, path string, v any) (found bool, err error) {
	if rt == nil {
		return false, errors.New("the policy has no connection to the daemon")
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", path, err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxLookupBody)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return false, fmt.Errorf("GET %s: the daemon answered %d %s", path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return false, fmt.Errorf("GET %s: %w", path, err)
	}
	return true, nil
}
