package main

import (
	"net/http"
	"strings"
	"sync"
)

// requestCounter counts the requests a process sends to the API server, by verb and resource. It is
// wrapped into the process's rest.Config (rest.Config.Wrap), so it sees every request of every
// client the process builds from that config: the cache's lists and watches, the reconciler's
// writes, the event recorder's events.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int64
}

func newRequestCounter() *requestCounter {
	return &requestCounter{counts: map[string]int64{}}
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

func (c *requestCounter) add(key string) {
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
}

type countingRoundTripper struct {
	counter *requestCounter
	next    http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t countingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	verb, resource := classifyRequest(req.Method, req.URL.Path, req.URL.Query().Get("watch"))
	t.counter.add(verb + " " + resource)
	return t.next.RoundTrip(req)
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
