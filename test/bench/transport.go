package main

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxLatencySamples bounds the round trips a requestCounter keeps per kind of request.
const maxLatencySamples = 20_000

// requestCounter counts the requests a process sends to the API server, by verb and resource, and
// times the round trips of its status writes. It is wrapped into the process's rest.Config
// (rest.Config.Wrap), so it sees every request of every client the process builds from that config:
// the cache's lists and watches, the reconciler's writes, the event recorder's events.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int64
	// statusWrites holds, in order, the round trips of each kind of status write ("patch
	// floormanagers.hotel.innkeeper.dev/status"), in microseconds: from the request's start to its
	// response's headers.
	statusWrites map[string][]int64
}

func newRequestCounter() *requestCounter {
	return &requestCounter{counts: map[string]int64{}, statusWrites: map[string][]int64{}}
}

// wrap returns a RoundTripper that counts each request, then sends it with next.
func (c *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return countingRoundTripper{counter: c, next: next}
}

// snapshot returns a copy of the counts, keyed "verb resource".
func (c *requestCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// statusWriteSamples returns a copy of the status writes' round trips.
func (c *requestCounter) statusWriteSamples() map[string][]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]int64, len(c.statusWrites))
	for k, v := range c.statusWrites {
		out[k] = append([]int64(nil), v...)
	}
	return out
}

func (c *requestCounter) add(key string) {
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
}

func (c *requestCounter) addStatusWrite(key string, d time.Duration) {
	c.mu.Lock()
	if len(c.statusWrites[key]) < maxLatencySamples {
		c.statusWrites[key] = append(c.statusWrites[key], d.Microseconds())
	}
	c.mu.Unlock()
}

// isStatusWrite reports whether a "verb resource" key is a write of a status subresource.
func isStatusWrite(key string) bool {
	return isWrite(key) && strings.HasSuffix(key, "/status")
}

type countingRoundTripper struct {
	counter *requestCounter
	next    http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t countingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	verb, resource := classifyRequest(req.Method, req.URL.Path, req.URL.Query().Get("watch"))
	key := verb + " " + resource
	t.counter.add(key)
	if !isStatusWrite(key) {
		return t.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.counter.addStatusWrite(key, time.Since(start))
	return resp, err
}

// writeVerbs are the verbs that change state in the API server.
var writeVerbs = map[string]bool{
	"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true,
}

// isWrite reports whether a "verb resource" key counts a write.
func isWrite(key string) bool {
	verb, _, _ := strings.Cut(key, " ")
	return writeVerbs[verb]
}

// classifyRequest names an API request the way RBAC and audit logs do: a verb (get, list, watch,
// create, update, patch, delete, deletecollection) and a resource, qualified by its group unless it
// is in the core group and followed by its subresource ("floormanagers.hotel.innkeeper.dev/status").
// Requests outside /api and /apis (such as /version) and discovery are "get discovery".
func classifyRequest(method, path, watch string) (verb, resource string) {
	segments := strings.Split(strings.Trim(path, "/"), "/")
	var group string
	var rest []string
	switch {
	case len(segments) >= 2 && segments[0] == "api":
		rest = segments[2:]
	case len(segments) >= 3 && segments[0] == "apis":
		group, rest = segments[1], segments[3:]
	}
	if len(rest) == 0 {
		return "get", "discovery"
	}
	// A namespaced resource: /namespaces/<ns>/<resource>/...; /namespaces/<ns> alone is a Namespace.
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	resource = rest[0]
	if group != "" {
		resource += "." + group
	}
	if len(rest) >= 3 {
		resource += "/" + rest[2]
	}
	named := len(rest) >= 2
	switch method {
	case http.MethodGet:
		switch {
		case watch == "true" || watch == "1":
			verb = "watch"
		case named:
			verb = "get"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if !named {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(method)
	}
	return verb, resource
}
