// Command kube-network-policies runs the NetworkPolicy controller of
// sigs.k8s.io/kube-network-policies (pinned in go.mod) on a node outside a Pod.
//
// This is our own main, not upstream's cmd/kube-network-policies (a main
// package cannot be imported). It differs from upstream's in four ways:
//   - the API server is reached through --kubeconfig (default $KUBECONFIG); only
//     when both are empty does it fall back to the in-cluster config;
//   - --disable-nri is honoured (upstream v0.8.0 parses it but never passes it on;
//     nri-disabled-no-plugin.patch makes the library survive it);
//   - SIGTERM stops it like SIGINT, and it waits for the controller to remove its
//     nftables table before exiting;
//   - a controller that fails (for example, the nfqueue socket cannot be opened)
//     ends the process with exit code 1 instead of leaving it running without
//     enforcing anything.
//
// The library is built from a patched copy (the .patch files here, each says
// why), put in place by local/cluster/node-setup.ts with a replace directive.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
	npaclient "sigs.k8s.io/network-policy-api/pkg/client/clientset/versioned"
	npainformers "sigs.k8s.io/network-policy-api/pkg/client/informers/externalversions"
	npav1alpha1 "sigs.k8s.io/network-policy-api/pkg/client/informers/externalversions/apis/v1alpha1"
)

type options struct {
	kubeconfig                 string
	failOpen                   bool
	adminNetworkPolicy         bool
	baselineAdminNetworkPolicy bool
	queueID                    int
	metricsBindAddress         string
	hostnameOverride           string
	netfilterBug1766Fix        bool
	disableNRI                 bool
}

func parseFlags() (*options, error) {
	o := &options{}
	fs := flag.CommandLine
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "Path to the kubeconfig of the API server (default $KUBECONFIG); when empty, the in-cluster configuration is used")
	fs.BoolVar(&o.failOpen, "fail-open", false, "If set, don't drop packets if the controller is not running")
	fs.BoolVar(&o.adminNetworkPolicy, "admin-network-policy", false, "If set, enable Admin Network Policy API")
	fs.BoolVar(&o.baselineAdminNetworkPolicy, "baseline-admin-network-policy", false, "If set, enable Baseline Admin Network Policy API")
	fs.IntVar(&o.queueID, "nfqueue-id", 100, "Number of the nfqueue used")
	fs.StringVar(&o.metricsBindAddress, "metrics-bind-address", ":9080", "The IP address and port for the metrics server to serve on")
	fs.StringVar(&o.hostnameOverride, "hostname-override", "", "If non-empty, the name of the Node this runs on; else the hostname")
	fs.BoolVar(&o.netfilterBug1766Fix, "netfilter-bug-1766-fix", true, "If set, process DNS packets on the PREROUTING hook (not needed for kernels 6.12+, see https://bugzilla.netfilter.org/show_bug.cgi?id=1766)")
	fs.BoolVar(&o.disableNRI, "disable-nri", false, "If set, do not ask the container runtime (NRI) for Pod IPs; use the API server's only")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "Usage: kube-network-policies [options]\n\n")
		fs.PrintDefaults()
	}
	c := logsapi.NewLoggingConfiguration()
	logsapi.AddGoFlags(c, fs)
	flag.Parse()
	logs.InitLogs()
	if err := logsapi.ValidateAndApply(c, nil); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(o.metricsBindAddress); err != nil {
		return nil, fmt.Errorf("--metrics-bind-address=%q: %w", o.metricsBindAddress, err)
	}
	return o, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

func main() {
	os.Exit(run())
}

func run() int {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-network-policies: %v\n", err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logger := klog.FromContext(ctx)

	nodeName, err := nodeutil.GetHostname(o.hostnameOverride)
	if err != nil {
		logger.Error(err, "cannot obtain the node name; set --hostname-override")
		return 1
	}
	config, err := restConfig(o.kubeconfig)
	if err != nil {
		logger.Error(err, "cannot load the API server configuration; set --kubeconfig or $KUBECONFIG", "kubeconfig", o.kubeconfig)
		return 1
	}
	done, err := start(ctx, o, nodeName, config)
	if err != nil {
		logger.Error(err, "cannot start the network policy controller")
		return 1
	}
	select {
	case err := <-done:
		logger.Error(err, "network policy controller stopped")
		return 1
	case <-ctx.Done():
	}
	// The controller removes its nftables table when Run returns.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return 0
}

// start wires the informers and the controller as upstream's main does, and
// returns a channel that receives the controller's result when Run returns.
func start(ctx context.Context, o *options, nodeName string, config *rest.Config) (<-chan error, error) {
	npaConfig := rest.CopyConfig(config) // CRDs do not speak protobuf
	config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	config.ContentType = "application/vnd.kubernetes.protobuf"
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactory(clientset, 0)
	withNPA := o.adminNetworkPolicy || o.baselineAdminNetworkPolicy
	deps := controllerDeps{}
	if withNPA {
		if err := deps.wireNPA(npaConfig, factory, o); err != nil {
			return nil, err
		}
	}
	controller, err := networkpolicy.NewController(
		clientset,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		deps.nodeInformer,
		deps.npaClient,
		deps.anpInformer,
		deps.banpInformer,
		networkpolicy.Config{
			AdminNetworkPolicy:         o.adminNetworkPolicy,
			BaselineAdminNetworkPolicy: o.baselineAdminNetworkPolicy,
			FailOpen:                   o.failOpen,
			QueueID:                    o.queueID,
			NodeName:                   nodeName,
			NetfilterBug1766Fix:        o.netfilterBug1766Fix,
			NRIdisabled:                o.disableNRI,
		},
	)
	if err != nil {
		return nil, err
	}
	serveMetrics(ctx, o.metricsBindAddress)
	done := make(chan error, 1)
	go func() {
		err := controller.Run(ctx)
		if err == nil && ctx.Err() == nil {
			err = fmt.Errorf("the controller returned before it was asked to stop")
		}
		done <- err
	}()
	factory.Start(ctx.Done())
	if withNPA {
		deps.npaFactory.Start(ctx.Done())
	}
	return done, nil
}

// controllerDeps holds the optional (Baseline)AdminNetworkPolicy pieces; nil when disabled.
type controllerDeps struct {
	nodeInformer coreinformers.NodeInformer
	npaClient    *npaclient.Clientset
	npaFactory   npainformers.SharedInformerFactory
	anpInformer  npav1alpha1.AdminNetworkPolicyInformer
	banpInformer npav1alpha1.BaselineAdminNetworkPolicyInformer
}

func (d *controllerDeps) wireNPA(config *rest.Config, factory informers.SharedInformerFactory, o *options) error {
	client, err := npaclient.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("creating the network-policy-api client: %w", err)
	}
	d.npaClient = client
	d.nodeInformer = factory.Core().V1().Nodes()
	d.npaFactory = npainformers.NewSharedInformerFactory(client, 0)
	if o.adminNetworkPolicy {
		d.anpInformer = d.npaFactory.Policy().V1alpha1().AdminNetworkPolicies()
	}
	if o.baselineAdminNetworkPolicy {
		d.banpInformer = d.npaFactory.Policy().V1alpha1().BaselineAdminNetworkPolicies()
	}
	return nil
}

func serveMetrics(ctx context.Context, address string) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	server := &http.Server{Addr: address, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			klog.FromContext(ctx).Error(err, "metrics server stopped", "address", address)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = server.Close()
	}()
}
