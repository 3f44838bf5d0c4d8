// Command sample-app is the workload of the local cluster's tests: an HTTP server that tells which pod
// answered ("namespace=<ns> pod=<name>"), with a /healthz for probes. It stops at once on SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// identity is the pod's namespace and name: from the downward API's env vars, else the service
// account's namespace file and the hostname (which is the pod name).
func identity() (namespace, pod string) {
	namespace = os.Getenv("POD_NAMESPACE")
	if namespace == "" {
		if raw, err := os.ReadFile(namespaceFile); err == nil {
			namespace = strings.TrimSpace(string(raw))
		}
	}
	pod = os.Getenv("POD_NAME")
	if pod == "" {
		pod, _ = os.Hostname()
	}
	return namespace, pod
}

func handler() http.Handler {
	namespace, pod := identity()
	line := fmt.Sprintf("namespace=%s pod=%s\n", namespace, pod)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(line))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func main() {
	addr := ":" + envOr("PORT", "8080")
	srv := &http.Server{Addr: addr, Handler: handler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	log.Printf("sample-app listening on %s", addr)
	select {
	case err := <-errs:
		log.Fatalf("sample-app: %v", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Printf("sample-app: shutdown: %v", err)
	}
	log.Printf("sample-app stopped")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
