// Package kubetest starts a real Kubernetes control plane on 127.0.0.1 for
// the kubernetes runner's tests and benchmark: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, with kwok playing the nodes
// so that pods become Running and Ready and Deployments truly roll out.
//
// The binaries are built once by `go run ./internal/kubetest/build` (make
// test does it) into a cache directory named by their versions, outside
// the repository; reruns start the stack in seconds.
package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The versions built and run. The tools modules under tools/ pin the
// same ones.
const (
	KubernetesVersion = "v1.36.3"
	EtcdVersion       = "v3.6.16"
	KwokVersion       = "v0.8.0"
)

// Binaries are the programs the stack runs, by file name in BinDir.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"}

// StageFiles are kwok's stage definitions, copied from its module source
// into BinDir: nodes become Ready and keep a heartbeat; pods become Ready,
// complete and are deleted as a kubelet would.
var StageFiles = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat/node-heartbeat.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
}

// RequiredEnv, when set (make test sets it), turns missing binaries into a
// failure instead of a skip.
const RequiredEnv = "DEPLOYQ_KUBE_REQUIRED"

// BinDir is where the binaries are: $DEPLOYQ_KUBE_BIN, or a directory in
// the user's cache named by the versions.
func BinDir() string {
	if d := os.Getenv("DEPLOYQ_KUBE_BIN"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "deployq-kube", fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s", KubernetesVersion, EtcdVersion, KwokVersion))
}

// Missing lists what is not built yet.
func Missing() []string {
	var out []string
	for _, f := range append(append([]string{}, Binaries...), stageNames()...) {
		if _, err := os.Stat(filepath.Join(BinDir(), f)); err != nil {
			out = append(out, f)
		}
	}
	return out
}

func stageNames() []string {
	var out []string
	for _, f := range StageFiles {
		out = append(out, "stage-"+filepath.Base(f))
	}
	return out
}

// Cluster is a running control plane.
type Cluster struct {
	Dir        string
	Kubeconfig string // admin kubeconfig, context "deployq-test"
	Config     *rest.Config
	Client     kubernetes.Interface
	procs      []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it exited
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// NodeName is the kwok node pods are scheduled on.
const NodeName = "kwok-node-0"

// Start starts the stack under dir and waits until a node is Ready.
func Start(ctx context.Context, dir string) (*Cluster, error) {
	if m := Missing(); len(m) > 0 {
		return nil, fmt.Errorf("kubernetes test binaries missing in %s: %s (build them: go run ./internal/kubetest/build)", BinDir(), strings.Join(m, ", "))
	}
	c := &Cluster{Dir: dir}
	if err := c.start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	bin := func(name string) string { return filepath.Join(BinDir(), name) }
	pki, err := writePKI(c.Dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, server, pki); err != nil {
		return err
	}

	if err := c.run("etcd", bin("etcd"),
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", etcdClient),
		fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", etcdClient),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-cluster=default=http://127.0.0.1:%d", etcdPeer),
		"--unsafe-no-fsync", "--quota-backend-bytes=4294967296", "--log-level=warn"); err != nil {
		return err
	}
	if err := c.run("kube-apiserver", bin("kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdClient),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir="+filepath.Join(c.Dir, "apiserver-certs"),
		"--tls-cert-file="+pki.serverCert, "--tls-private-key-file="+pki.serverKey,
		"--client-ca-file="+pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+pki.saKey,
		"--service-account-signing-key-file="+pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		// no service account tokens are mounted into pods nobody runs
		"--disable-admission-plugins=ServiceAccount",
		"--v=0"); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	c.Config = cfg
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if err := c.waitHealthy(ctx); err != nil {
		return err
	}
	if err := c.run("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig, "--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--leader-elect=false", "--controllers=*",
		"--service-account-private-key-file="+pki.saKey, "--root-ca-file="+pki.caCert,
		"--cluster-signing-cert-file="+pki.caCert, "--cluster-signing-key-file="+pki.caKey,
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
		"--v=0"); err != nil {
		return err
	}
	if err := c.run("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig, "--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false", "--v=0"); err != nil {
		return err
	}
	stages := filepath.Join(c.Dir, "kwok.yaml")
	if err := writeKwokConfig(stages); err != nil {
		return err
	}
	if err := c.run("kwok", bin("kwok"),
		"--kubeconfig="+c.Kubeconfig, "--config="+stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", "--node-port=0", "--server-address=", "--v=ERROR"); err != nil {
		return err
	}
	if err := c.addNode(ctx); err != nil {
		return err
	}
	return nil
}

// run starts a component with its output in a log file of its own.
func (c *Cluster) run(name, path string, args ...string) error {
	logPath := filepath.Join(c.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.Dir
	// the components die with the test process, even if it is killed
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	c.procs = append(c.procs, p)
	go func() { cmd.Wait(); close(p.done) }()
	return nil
}

func (c *Cluster) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var last error
	for {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = err
		for _, p := range c.procs {
			if p.exited() {
				return fmt.Errorf("%s exited:\n%s", p.name, p.tail())
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver never became ready: %v\n%s", last, c.procs[len(c.procs)-1].tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail is the end of a component's log, for errors.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// addNode registers the fake node kwok manages and waits until it is
// Ready and schedulable.
func (c *Cluster) addNode(ctx context.Context) error {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels:      map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "type": "kwok"},
		},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
		},
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		_, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err == nil || strings.Contains(err.Error(), "already exists") {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create node: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		got, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err == nil {
			for _, cond := range got.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && len(got.Spec.Taints) == 0 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("the kwok node never became Ready\n" + c.procs[len(c.procs)-1].tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Namespace creates a namespace of its own for one test.
func (c *Cluster) Namespace(ctx context.Context, prefix string) (string, error) {
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return ns.Name, nil
}

// Close stops every component (by pid), newest first.
func (c *Cluster) Close() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
}

func writeKwokConfig(path string) error {
	var docs []string
	for _, f := range stageNames() {
		b, err := os.ReadFile(filepath.Join(BinDir(), f))
		if err != nil {
			return err
		}
		docs = append(docs, strings.TrimSpace(string(b)))
	}
	return os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644)
}

type pkiFiles struct {
	caCert, caKey, serverCert, serverKey, adminCert, adminKey, saKey string
}

// writePKI makes a CA, the apiserver's serving certificate for 127.0.0.1,
// an admin client certificate (system:masters) and the service account
// signing key, all in Go.
func writePKI(dir string) (*pkiFiles, error) {
	p := &pkiFiles{
		caCert: filepath.Join(dir, "ca.crt"), caKey: filepath.Join(dir, "ca.key"),
		serverCert: filepath.Join(dir, "server.crt"), serverKey: filepath.Join(dir, "server.key"),
		adminCert: filepath.Join(dir, "admin.crt"), adminKey: filepath.Join(dir, "admin.key"),
		saKey: filepath.Join(dir, "sa.key"),
	}
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deployq-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, subject pkix.Name, usage x509.ExtKeyUsage, certPath, keyPath string, ips []net.IP, names []string) error {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: subject,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips, DNSNames: names,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return writePEM(keyPath, "EC PRIVATE KEY", kb)
	}
	if err := writePEM(p.caCert, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	kb, _ := x509.MarshalECPrivateKey(caKey)
	if err := writePEM(p.caKey, "EC PRIVATE KEY", kb); err != nil {
		return nil, err
	}
	if err := leaf(2, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth, p.serverCert, p.serverKey,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}, []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}); err != nil {
		return nil, err
	}
	if err := leaf(3, pkix.Name{CommonName: "deployq-test-admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, p.adminCert, p.adminKey, nil, nil); err != nil {
		return nil, err
	}
	saKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sb, _ := x509.MarshalECPrivateKey(saKey)
	if err := writePEM(p.saKey, "EC PRIVATE KEY", sb); err != nil {
		return nil, err
	}
	return p, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// writeKubeconfig writes an admin kubeconfig whose context is
// "deployq-test"; the server's certificate is verified against the CA.
func writeKubeconfig(path, server string, p *pkiFiles) error {
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: deployq-test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: deployq-test
  context:
    cluster: deployq-test
    user: admin
current-context: deployq-test
`, server, p.caCert, p.adminCert, p.adminKey)
	return os.WriteFile(path, []byte(text), 0o600)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
