package fleetharness

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// FakeDocker answers the few Docker Engine API calls with which Nomad's
// docker driver fingerprints a host (nomad@v1.10.5:
// drivers/docker/fingerprint.go buildFingerprint: ServerVersion, NetworkList,
// Info; the moby client pings /_ping first and reads its Api-Version header,
// moby@v28.5.2: client/ping.go, client/version.go, client/info.go,
// client/network_list.go). It runs no container: the Fleet test's tasks use
// the mock driver. With it the node reports driver.docker and
// driver.docker.privileged.enabled, as a client with Docker installed does.
type FakeDocker struct {
	Sock string
	srv  *http.Server
}

// ServeDocker starts a fake Docker daemon on sock until the test ends or Stop.
func ServeDocker(t *testing.T, sock string) *FakeDocker {
	t.Helper()
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &FakeDocker{Sock: sock, srv: &http.Server{Handler: http.HandlerFunc(dockerAPI)}}
	go func() {
		if err := f.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Logf("fake docker on %s: %v", sock, err)
		}
	}()
	t.Cleanup(f.Stop)
	return f
}

// Stop closes the socket: Docker is "gone".
func (f *FakeDocker) Stop() {
	_ = f.srv.Close()
	_ = os.Remove(f.Sock)
}

const fakeAPIVersion = "1.45"

func dockerAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", fakeAPIVersion)
	w.Header().Set("Ostype", "linux")
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/_ping"):
		_, _ = w.Write([]byte("OK"))
	case strings.HasSuffix(p, "/version"):
		reply(map[string]string{"Version": "26.1.5", "ApiVersion": fakeAPIVersion, "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"})
	case strings.HasSuffix(p, "/info"):
		reply(map[string]any{"OSType": "linux", "Runtimes": map[string]any{"runc": map[string]string{"path": "runc"}}})
	case strings.HasSuffix(p, "/networks"):
		reply([]map[string]any{{"Name": "bridge", "IPAM": map[string]any{"Config": []map[string]string{{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}}}}})
	case strings.HasSuffix(p, "/containers/json"):
		reply([]any{})
	default:
		w.WriteHeader(http.StatusNotFound)
		reply(map[string]string{"message": "not served by the Fleet test's fake Docker: " + p})
	}
}
