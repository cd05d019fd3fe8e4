package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Introspection is a Check that asks the broker whether each token is still
// active (POST /auth/introspect, RFC 7662), so a route honours a logout at
// once instead of when the token expires. endpoint is the broker's
// BASE_URL + "/auth/introspect"; secret is its INTROSPECT_SECRET (sent as
// HTTP Basic credentials); client defaults to a new http.Client. It costs a
// round trip per request: use it on the routes that need it, with a
// timeout on the request's context. When the broker cannot be asked, the
// token is refused (fail closed).
func Introspection(endpoint, secret string, client *http.Client) Check {
	if client == nil {
		client = &http.Client{}
	}
	return CheckFunc(func(ctx context.Context, raw string, _ *Claims) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(url.Values{"token": {raw}}.Encode()))
		if err != nil {
			return fmt.Errorf("introspect: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth("resource-server", secret)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("introspect: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			return fmt.Errorf("introspect: status %d", resp.StatusCode)
		}
		var out struct {
			Active *bool `json:"active"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || out.Active == nil {
			return errors.New("introspect: not an RFC 7662 response")
		}
		if !*out.Active {
			return ErrRevoked
		}
		return nil
	})
}
