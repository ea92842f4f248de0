// Package api is labsync's REST API under /api/v1: JSON in and out,
// authenticated by API token or the UI session (accounts' authenticators),
// every query scoped to the caller's organisation. It is a face: handlers
// decode the request, call one service method and encode its answer; they
// return errors, and one place, serveError, maps a problem's kind to the
// HTTP status and JSON the caller sees. It never returns a secret after the
// response that created it, and never imports the web package.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// handlerFunc is an HTTP handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// statuses is the one place a problem's kind becomes an HTTP status.
var statuses = map[problem.Kind]int{
	problem.Internal:        http.StatusInternalServerError,
	problem.Malformed:       http.StatusBadRequest,
	problem.Invalid:         http.StatusUnprocessableEntity,
	problem.Unsupported:     http.StatusUnsupportedMediaType,
	problem.Unauthenticated: http.StatusUnauthorized,
	problem.Forbidden:       http.StatusForbidden,
	problem.NotFound:        http.StatusNotFound,
	problem.Conflict:        http.StatusConflict,
	problem.RateLimited:     http.StatusTooManyRequests,
	problem.Upstream:        http.StatusBadGateway,
	problem.Unavailable:     http.StatusServiceUnavailable,
	problem.Canceled:        499, // nginx's "client closed request": nobody reads it
}

// StatusOf is the HTTP status the API answers a problem of kind k with.
func StatusOf(k problem.Kind) int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// KindOf is the problem kind an API answer's status stands for, for
// clients that turn an error body back into a *problem.Error; a status the
// API never answers with is Internal.
func KindOf(status int) problem.Kind {
	for k, s := range statuses {
		if s == status {
			return k
		}
	}
	return problem.Internal
}

// ErrorBody is the JSON form of a problem, under "error" in the body.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Remedy  string `json:"remedy,omitempty"`
	// Field names the request field at fault, when one is.
	Field string `json:"field,omitempty"`
	// Kind classifies a GitLab-side failure (see gitlab.Kind).
	Kind string `json:"kind,omitempty"`
}

// Problem turns an error body the API answered with status back into the
// problem it was made from (without its diagnosis).
func (b ErrorBody) Problem(status int) *problem.Error {
	return &problem.Error{Kind: KindOf(status), Code: b.Code, Message: b.Message, Remedy: b.Remedy, Field: b.Field, Reason: b.Kind}
}

var errInternal = &problem.Error{Kind: problem.Internal, Code: "internal", Message: "internal error; the server log has the details"}

// classify returns the problem err is, with the store's sentinels named;
// nil for an error nobody meant to show.
func classify(err error) *problem.Error {
	var p *problem.Error
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrNotFound):
		return &problem.Error{Kind: problem.NotFound, Code: "not_found", Message: "not found", Err: err}
	case errors.Is(err, store.ErrConflict):
		return &problem.Error{Kind: problem.Conflict, Code: "conflict", Message: err.Error(), Err: err}
	}
	p, _ = problem.From(err)
	return p
}

// serveError writes err as JSON: a problem with the status of its kind and,
// when a connection check refused the input, the diagnosis beside it.
// Anything else (and an Internal problem) is a 500 whose details are
// logged, not shown.
func serveError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := classify(err)
	if p == nil || p.Kind == problem.Internal {
		log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		p = errInternal
	}
	body := map[string]any{"error": ErrorBody{Code: p.Code, Message: p.Message, Remedy: p.Remedy, Field: p.Field, Kind: p.Reason}}
	if p.Diagnosis != nil {
		body["diagnosis"] = p.Diagnosis
	}
	writeJSON(w, StatusOf(p.Kind), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// maxBody bounds request bodies of the JSON API.
const maxBody = 1 << 20

// decode reads a JSON body into v, refusing unknown fields, trailing data
// and bodies over 1 MiB.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return problem.New(problem.Unsupported, "unsupported_media_type", "send the body as application/json")
		}
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return problem.New(problem.Malformed, "invalid_json", "the request body is empty; send a JSON object")
		case errors.As(err, &syn):
			return problem.New(problem.Malformed, "invalid_json", "the request body is not valid JSON (at byte %d)", syn.Offset)
		case errors.As(err, &typ):
			return &problem.Error{Kind: problem.Malformed, Code: "invalid_json", Field: typ.Field,
				Message: fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type))}
		default:
			return problem.New(problem.Malformed, "invalid_json", "the request body is not accepted: %v", err)
		}
	}
	if dec.More() {
		return problem.New(problem.Malformed, "invalid_json", "the request body has data after the JSON object")
	}
	return nil
}

// jsonKind names what a Go type is in JSON, for messages to API callers.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a " + t.String()
}
