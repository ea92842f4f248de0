// Package api is labsync's REST API under /api/v1: JSON in and out,
// authenticated by API token (and, later, the UI session), every query
// scoped to the caller's organisation. Handlers return errors; one place,
// serveError, decides what the caller sees. It never returns a secret after
// the response that created it.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"

	"github.com/labsync/labsync/internal/store"
)

// handlerFunc is an HTTP handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is an error with the status and words a caller should see.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Remedy  string `json:"remedy,omitempty"`
	// Field names the request field at fault, when one is.
	Field string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with status and code.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// remedier is any error that knows what the user should do about it.
type remedier interface{ Remedy() string }

// serveError writes err as JSON. Known errors map to their status; anything
// else is a 500 whose details are logged, not shown.
func serveError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}
	case errors.Is(err, store.ErrConflict):
		ae = &Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		ae = &Error{Status: 499, Code: "canceled", Message: "request canceled"}
	default:
		var rem remedier
		if errors.As(err, &rem) {
			ae = &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: err.Error(), Remedy: rem.Remedy()}
			break
		}
		log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		ae = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the server log has the details"}
	}
	writeJSON(w, ae.Status, map[string]*Error{"error": ae})
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
			return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
		}
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return Errorf(http.StatusBadRequest, "invalid_json", "the request body is empty; send a JSON object")
		case errors.As(err, &syn):
			return Errorf(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON (at byte %d)", syn.Offset)
		case errors.As(err, &typ):
			return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Field: typ.Field,
				Message: fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type))}
		default:
			return Errorf(http.StatusBadRequest, "invalid_json", "the request body is not accepted: %v", err)
		}
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "invalid_json", "the request body has data after the JSON object")
	}
	return nil
}

// pathID parses a positive integer path value.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		// Not "bad request": a malformed id names nothing that exists.
		return 0, store.ErrNotFound
	}
	return id, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

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
