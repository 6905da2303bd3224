package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"dealcredit/api"
)

// client calls the daemon's HTTP API with the token of a role and keeps the
// highest log position its commands committed, so that queries can ask the
// read models for their own writes (min_position).
type client struct {
	base   string
	hc     *http.Client
	tokens map[string]string // role (or "partner:<id>") -> token

	mu  sync.Mutex
	pos int64
	// serverTime is the Date header of the last answer: the daemon's clock.
	serverTime time.Time
}

// response is one HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// problem is an application/problem+json answer.
type problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
	Rule   string `json:"rule"`
}

// commandResult is the answer of a command (api.CommandResult).
type commandResult struct {
	Position int64  `json:"position"`
	ID       string `json:"id"`
	Status   string `json:"status"`
}

// statusError is an answer with an unexpected status.
type statusError struct {
	Method, Path string
	Status       int
	Problem      problem
	Body         string
}

func (e *statusError) Error() string {
	if e.Problem.Detail != "" {
		return fmt.Sprintf("%s %s: %d %s (rule %q)", e.Method, e.Path, e.Status, e.Problem.Detail, e.Problem.Rule)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

func newClient(base string, hc *http.Client, tokens api.Tokens) (*client, error) {
	c := &client{base: strings.TrimRight(base, "/"), hc: hc, tokens: map[string]string{}}
	for _, t := range tokens {
		key := string(t.Role)
		if t.Role == api.RolePartner {
			key = "partner:" + t.PartnerID
		}
		if _, ok := c.tokens[key]; !ok {
			c.tokens[key] = t.Token
		}
	}
	for _, r := range []string{"admin", "channel_manager", "finance", "auditor"} {
		if c.tokens[r] == "" {
			return nil, fmt.Errorf("demo: the tokens file has no %s token", r)
		}
	}
	return c, nil
}

// do sends one request as role; body (when not nil) is sent as JSON.
// headers are name, value pairs.
func (c *client) do(ctx context.Context, method, path, role string, body any, headers ...string) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, fmt.Errorf("demo: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return response{}, fmt.Errorf("demo: %s %s: %w", method, path, err)
	}
	tok := c.tokens[role]
	if tok == "" {
		return response{}, fmt.Errorf("demo: no token for %s", role)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("demo: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("demo: %s %s: read answer: %w", method, path, err)
	}
	c.mu.Lock()
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		c.serverTime = t
	}
	if p, err := strconv.ParseInt(resp.Header.Get(api.PositionHeader), 10, 64); err == nil && resp.StatusCode < 300 && method != http.MethodGet {
		c.pos = max(c.pos, p)
	}
	c.mu.Unlock()
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// expect sends a request and fails unless the status is one of want; it
// decodes a JSON answer into out when out is not nil.
func (c *client) expect(ctx context.Context, method, path, role string, body, out any, want ...int) (response, error) {
	r, err := c.do(ctx, method, path, role, body)
	if err != nil {
		return r, err
	}
	for _, w := range want {
		if r.Status == w {
			if out != nil && len(r.Body) > 0 {
				if err := json.Unmarshal(r.Body, out); err != nil {
					return r, fmt.Errorf("demo: %s %s: decode answer: %w", method, path, err)
				}
			}
			return r, nil
		}
	}
	se := &statusError{Method: method, Path: path, Status: r.Status, Body: string(r.Body)}
	_ = json.Unmarshal(r.Body, &se.Problem)
	return r, se
}

// refused sends a command that must be refused with status and returns the problem.
func (c *client) refused(ctx context.Context, method, path, role string, body any, status int) (problem, error) {
	r, err := c.do(ctx, method, path, role, body)
	if err != nil {
		return problem{}, err
	}
	var p problem
	if r.Status != status {
		return p, fmt.Errorf("demo: %s %s: want %d refusal, got %d %s", method, path, status, r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return p, fmt.Errorf("demo: %s %s: decode problem: %w", method, path, err)
	}
	return p, nil
}

// query reads a read model at least as new as every command sent so far;
// out receives the answer's data field. It returns the position the answer reflects.
func (c *client) query(ctx context.Context, path, role string, out any) (int64, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	full := path + sep + "min_position=" + strconv.FormatInt(c.position(), 10)
	var res struct {
		Position int64           `json:"position"`
		Data     json.RawMessage `json:"data"`
	}
	_, err := c.expect(ctx, http.MethodGet, full, role, nil, &res, http.StatusOK)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.Status == http.StatusServiceUnavailable {
			return 0, fmt.Errorf("demo: the daemon does not serve read models yet (GET %s answers 503): %w", path, err)
		}
		return 0, err
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			return 0, fmt.Errorf("demo: GET %s: decode data: %w", path, err)
		}
	}
	return res.Position, nil
}

func (c *client) position() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

func (c *client) observe(pos int64) {
	c.mu.Lock()
	c.pos = max(c.pos, pos)
	c.mu.Unlock()
}

func (c *client) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serverTime
}
