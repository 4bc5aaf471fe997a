package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/tetranomad/packer-plugin-tetranomad/fleet"
)

const statusSynopsis = "show whether every eligible Nomad client runs a healthy Tetragon with the expected bundle"

// exitNotProtected is status's answer for a monitoring probe: the API
// answered, and some eligible client is not protected.
const exitNotProtected = 1

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := newCommandLine("status", "[-bundle SRC] [-format table|json] [Nomad flags]", statusSynopsis,
		"For every client node: eligible or not, its tetranomad_contract node meta against the bundle's, the Docker driver,\n"+
			"the Tetragon allocation's status, bundle and policy mode, its checks and restarts; then the deployment's canary state.\n"+
			"Given a new bundle, it names the clients whose contract differs before anyone runs its job. Reads only Nomad's API.\n"+
			"Exit status: 0 every eligible client protected by the expected bundle, 1 some are not (or none is eligible),\n"+
			"2 usage errors, an unreadable bundle, or Nomad not answering.", stderr)
	// Nomad's own environment variables first, as the Nomad CLI reads them;
	// the flags below override them.
	conf := api.DefaultConfig()
	fs.StringVar(&conf.Address, "address", conf.Address, "Nomad HTTP API `ADDR`ess (NOMAD_ADDR)")
	fs.StringVar(&conf.Region, "region", conf.Region, "`REGION` of the servers to ask (NOMAD_REGION)")
	fs.StringVar(&conf.Namespace, "namespace", conf.Namespace, "`NAMESPACE` of the job (NOMAD_NAMESPACE); defaults to the bundle's, else \"default\"")
	fs.StringVar(&conf.SecretID, "token", conf.SecretID, "ACL `TOKEN` (NOMAD_TOKEN); needs read-job and node:read")
	fs.StringVar(&conf.TLSConfig.CACert, "ca-cert", conf.TLSConfig.CACert, "`FILE` of the CA that signed the servers' certificates (NOMAD_CACERT)")
	fs.StringVar(&conf.TLSConfig.CAPath, "ca-path", conf.TLSConfig.CAPath, "`DIR` of CA certificates (NOMAD_CAPATH)")
	fs.StringVar(&conf.TLSConfig.ClientCert, "client-cert", conf.TLSConfig.ClientCert, "client certificate `FILE` for mTLS (NOMAD_CLIENT_CERT)")
	fs.StringVar(&conf.TLSConfig.ClientKey, "client-key", conf.TLSConfig.ClientKey, "client key `FILE` for mTLS (NOMAD_CLIENT_KEY)")
	fs.StringVar(&conf.TLSConfig.TLSServerName, "tls-server-name", conf.TLSConfig.TLSServerName, "`NAME` to verify the server certificate against (NOMAD_TLS_SERVER_NAME)")
	fs.BoolVar(&conf.TLSConfig.Insecure, "tls-skip-verify", conf.TLSConfig.Insecure, "do not verify the servers' certificates (NOMAD_SKIP_VERIFY)")
	jobID := fs.String("job", "", "Tetragon job `ID`; defaults to the bundle's, else \"tetragon\"")
	bundleSrc := fs.String("bundle", "", "compare with this bundle: a `DIR`, a latest.json or manifest.json URL, or gs://BUCKET/PREFIX/latest.json; defaults to the registered job's own bundle")
	format := fs.String("format", "table", "output `FORMAT`: table or json")
	timeout := fs.Duration("timeout", time.Minute, "give up after this `DURATION`")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if fs.NArg() > 0 {
		return fs.usageError("unexpected argument %q; give the bundle with -bundle", fs.Arg(0))
	}
	if *format != "table" && *format != "json" {
		return fs.usageError("-format %q: use table or json", *format)
	}
	if *timeout <= 0 {
		return fs.usageError("-timeout %s: must be positive", *timeout)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var want fleet.Expected
	if *bundleSrc != "" {
		var err error
		if want, err = fleet.Load(ctx, *bundleSrc, statusStorageOptions...); err != nil {
			fmt.Fprintf(stderr, "status: %v\n", err)
			return exitUsageOrIO
		}
	}
	id := firstOf(*jobID, want.JobID, "tetragon")
	namespace := firstOf(conf.Namespace, want.Namespace, "default")
	if *bundleSrc != "" && want.JobID != id {
		// A bundle for another job runs beside this one: it strands nothing.
		fmt.Fprintf(stderr, "status: bundle %s is job %q; comparing job %q's clients with it\n", want.Bundle, want.JobID, id)
	}

	client, err := api.NewClient(conf)
	if err != nil {
		fmt.Fprintf(stderr, "status: Nomad client configuration: %v\n", err)
		return exitUsageOrIO
	}
	snap, err := fleet.Collect(ctx, client, id, namespace)
	if err != nil {
		fmt.Fprintf(stderr, "status: asking Nomad at %s: %v\n", conf.Address, err)
		return exitUsageOrIO
	}
	report := fleet.Evaluate(snap, want)
	if *format == "json" {
		err = fleet.JSON(stdout, report)
	} else {
		err = fleet.Table(stdout, report)
	}
	if err != nil {
		fmt.Fprintf(stderr, "status: %v\n", err)
		return exitUsageOrIO
	}
	if !report.Summary.OK {
		return exitNotProtected
	}
	return exitOK
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
