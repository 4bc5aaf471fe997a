// Command mirrorproxy is the e2e target's only way out of its network
// namespace: a small HTTP forward proxy on the host end of the target's veth
// that lets apt inside reach the Debian mirror and nothing else.
//
// It is written here rather than taken from a Debian package (tinyproxy,
// squid) because those install and start a system-wide service on the host; this
// one lives and dies with the target and refuses every host not on -allow.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on, e.g. 169.254.77.1:3142")
	allow := flag.String("allow", "", "comma-separated host names the proxy may reach (port 80 for plain requests, 443 for CONNECT)")
	flag.Parse()
	if *listen == "" || *allow == "" {
		fmt.Fprintln(os.Stderr, "usage: mirrorproxy -listen ADDR -allow HOST[,HOST...]")
		os.Exit(2)
	}
	allowed := map[string]bool{}
	for _, h := range strings.Split(*allow, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allowed[strings.ToLower(h)] = true
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("mirrorproxy: %v", err)
	}
	srv := &http.Server{Handler: newProxy(allowed), ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("mirrorproxy: listening on %s, allowing %s", ln.Addr(), *allow)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("mirrorproxy: %v", err)
	}
}

type proxy struct {
	allowed map[string]bool
	forward *httputil.ReverseProxy
}

func newProxy(allowed map[string]bool) *proxy {
	return &proxy{
		allowed: allowed,
		// The request already carries its absolute target URL (proxy form), so
		// there is nothing to rewrite; hop-by-hop headers are dropped by ReverseProxy.
		forward: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL = r.In.URL; r.Out.Host = r.In.Host }},
	}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.URL.Hostname())
	if r.Method == http.MethodConnect {
		host = strings.ToLower(hostOnly(r.Host))
	}
	if !p.allowed[host] {
		log.Printf("refused %s %s", r.Method, r.RequestURI)
		http.Error(w, "mirrorproxy: host not allowed: "+host, http.StatusForbidden)
		return
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if r.URL.Scheme != "http" {
		http.Error(w, "mirrorproxy: only absolute http:// URLs or CONNECT", http.StatusBadRequest)
		return
	}
	log.Printf("%s %s", r.Method, r.URL)
	p.forward.ServeHTTP(w, r)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func (p *proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	_, port, err := net.SplitHostPort(r.Host)
	if err != nil || port != "443" {
		http.Error(w, "mirrorproxy: CONNECT only to port 443", http.StatusForbidden)
		return
	}
	upstream, err := net.DialTimeout("tcp", r.Host, 15*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "mirrorproxy: cannot hijack", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	log.Printf("CONNECT %s", r.Host)
	_, _ = client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, buf); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
	<-done
	client.Close()
	upstream.Close()
}
