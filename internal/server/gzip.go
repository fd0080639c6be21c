package server

import (
	"mime"
	"net/http"
	"strings"

	// klauspost's gzip, at its default level, makes a search answer or a
	// page 1 to 2% bigger than the standard library's for 40% of its CPU
	// (docs/benchmarks.md); the standard one was a tenth of serving a search.
	"github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"
)

// gzipMinLength is the smallest body worth compressing; below it the gzip
// framing costs more than it saves.
const gzipMinLength = 1024

// gzipMiddleware compresses responses for clients that accept gzip. Unlike
// echo's middleware.Gzip it decides per response, once the handler has set
// its headers: a response that is already encoded (Content-Encoding set), a
// range, or of an already-compressed type (images, audio, video, archives,
// woff fonts) passes through untouched. /metrics is skipped because promhttp
// negotiates its own compression.
func (s *Server) gzipMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == metricsPath {
			return next(c)
		}
		res := c.Response()
		res.Header().Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if c.Request().Method == http.MethodHead || !acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
			return next(c)
		}
		gw := &gzipWriter{ResponseWriter: res.Writer, s: s}
		res.Writer = gw
		defer func() {
			res.Writer = gw.ResponseWriter
			_ = gw.finish() // a failed write here means the client is gone
		}()
		return next(c)
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// gzipWriter buffers the start of a response until it knows whether to
// compress it: when the body reaches gzipMinLength, when the handler flushes,
// or when the handler returns.
type gzipWriter struct {
	http.ResponseWriter
	s *Server

	status     int    // status the handler asked for; 0 until then
	buf        []byte // body held back until decided
	decided    bool   // headers have gone to the client
	compressed bool
	gz         *gzip.Writer
}

var _ http.Flusher = (*gzipWriter)(nil)

func (w *gzipWriter) WriteHeader(code int) {
	if w.decided || w.status != 0 {
		return
	}
	if code < 200 { // informational (103 Early Hints): pass straight on
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status = code
	if !w.eligible() {
		w.decide(false)
	}
}

func (w *gzipWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.decided {
		if !w.eligible() {
			w.decide(false)
		} else {
			w.buf = append(w.buf, b...)
			if len(w.buf) < gzipMinLength {
				return len(b), nil
			}
			if err := w.decide(true); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	if w.compressed {
		return w.gz.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what is buffered; a streamed response is compressed if it is
// eligible, since its final length cannot be known.
func (w *gzipWriter) Flush() {
	if !w.decided {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		if !w.decided {
			_ = w.decide(w.eligible())
		}
	}
	if w.compressed {
		_ = w.gz.Flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// hijacking).
func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// eligible reports whether the response, as its headers stand, may be
// compressed.
func (w *gzipWriter) eligible() bool {
	switch w.status {
	case http.StatusNoContent, http.StatusPartialContent, http.StatusNotModified:
		return false
	}
	h := w.Header()
	if h.Get(echo.HeaderContentEncoding) != "" || h.Get("Content-Range") != "" {
		return false
	}
	return compressibleType(h.Get(echo.HeaderContentType))
}

// compressibleType reports whether a Content-Type is worth compressing. An
// empty type is (it will be sniffed from the uncompressed bytes).
func compressibleType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case mt == "image/svg+xml":
		return true
	case strings.HasPrefix(mt, "image/"), strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"):
		return false
	}
	switch mt {
	case "application/gzip", "application/x-gzip", "application/zip", "application/zstd",
		"application/x-bzip2", "application/x-xz", "application/x-7z-compressed",
		"application/octet-stream", "application/pdf", "font/woff", "font/woff2":
		return false
	}
	return true
}

// decide sends the headers, compressed or not, then anything buffered.
func (w *gzipWriter) decide(compress bool) error {
	w.decided = true
	h := w.Header()
	if compress {
		if h.Get(echo.HeaderContentType) == "" {
			// Sniff now: net/http would otherwise sniff the gzip bytes.
			h.Set(echo.HeaderContentType, http.DetectContentType(w.buf))
		}
		h.Set(echo.HeaderContentEncoding, "gzip")
		h.Del(echo.HeaderContentLength)
		w.compressed = true
		if gz, ok := w.s.gzipPool.Get().(*gzip.Writer); ok {
			gz.Reset(w.ResponseWriter)
			w.gz = gz
		} else {
			w.gz = gzip.NewWriter(w.ResponseWriter)
		}
	}
	if w.status != 0 {
		w.ResponseWriter.WriteHeader(w.status)
	}
	if len(w.buf) == 0 {
		return nil
	}
	var err error
	if w.compressed {
		_, err = w.gz.Write(w.buf)
	} else {
		_, err = w.ResponseWriter.Write(w.buf)
	}
	w.buf = nil
	return err
}

// finish sends whatever the handler left buffered and ends the gzip stream.
// A handler that wrote nothing leaves the response untouched, so the error
// handler can still answer.
func (w *gzipWriter) finish() error {
	if !w.decided {
		if w.status == 0 && len(w.buf) == 0 {
			return nil
		}
		if err := w.decide(false); err != nil { // short: not worth compressing
			return err
		}
	}
	if w.gz == nil {
		return nil
	}
	err := w.gz.Close()
	w.gz.Reset(nil)
	w.s.gzipPool.Put(w.gz)
	w.gz = nil
	return err
}
