package config

import (
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Masked replaces a secret in everything dealcredit prints.
const Masked = "xxxxx"

var (
	// userinfo matches "scheme://user:password@" (and "scheme://token@")
	// in text that is not a parseable URL.
	userinfoPassword = regexp.MustCompile(`(://[^:@/\s,]*):[^@\s,]*@`)
	// keyValuePassword matches password=... in a key/value DSN.
	keyValuePassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)
)

// Redact returns s, a URL, a comma-separated list of URLs or a key/value
// DSN, with every password masked: nats://dealcredit:xxxxx@host:4222.
func Redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				parts[i] = strings.Replace(p, strings.TrimSpace(p), u.Redacted(), 1)
				continue
			}
		}
		p = userinfoPassword.ReplaceAllString(p, "$1:"+Masked+"@")
		parts[i] = keyValuePassword.ReplaceAllString(p, "${1}"+Masked)
	}
	return strings.Join(parts, ",")
}

// Secrets returns every secret in c that must never be printed: the
// passwords in DATABASE_URL and NATS_URL (a NATS URL's user without a
// password is a token), NATS_PASSWORD. Use it with redact.Writer and
// redact.Error on everything the process writes.
func (c Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	fromURL := func(s string) {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.User == nil {
			return
		}
		if pw, ok := u.User.Password(); ok {
			add(pw)
		} else if strings.HasPrefix(u.Scheme, "nats") || strings.HasPrefix(u.Scheme, "tls") {
			add(u.User.Username()) // nats://TOKEN@host
		}
	}
	fromURL(c.DatabaseURL)
	fromURL(c.MigrationDatabaseURL)
	for _, m := range keyValuePassword.FindAllStringSubmatch(c.DatabaseURL, -1) {
		add(strings.Trim(m[2], "'"))
	}
	for _, s := range strings.Split(c.NATSURL, ",") {
		fromURL(s)
	}
	add(c.NATSPassword)
	return out
}

// secretForms are the spellings of a secret as it may appear in output:
// raw, escaped inside a URL, and escaped inside a JSON string.
func secretForms(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if len(s) < 3 {
			continue // masking "a" everywhere would mangle the output, not hide anything
		}
		userinfo := strings.TrimPrefix(url.UserPassword("u", s).String(), "u:")
		j, _ := json.Marshal(s)
		for _, f := range []string{s, url.QueryEscape(s), url.PathEscape(s), userinfo, string(j[1 : len(j)-1])} {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// RedactingWriter masks every secret in what is written through it. slog
// handlers write one whole record per Write, so a secret is never split
// across two writes.
type RedactingWriter struct {
	w       io.Writer
	replace *strings.Replacer
}

// NewRedactingWriter returns a writer that masks secrets (see
// Config.Secrets) before writing to w.
func NewRedactingWriter(w io.Writer, secrets []string) *RedactingWriter {
	var pairs []string
	for _, f := range secretForms(secrets) {
		pairs = append(pairs, f, Masked)
	}
	return &RedactingWriter{w: w, replace: strings.NewReplacer(pairs...)}
}

// Write masks the secrets in p and writes the result; it reports len(p).
func (r *RedactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, r.replace.Replace(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RedactError returns err with every secret masked in its message;
// errors.Is and errors.As still see err. nil stays nil.
func RedactError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, f := range secretForms(secrets) {
		msg = strings.ReplaceAll(msg, f, Masked)
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
