package kubernetes

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// kubeconfig is what a deploy reads of a kubeconfig file: the fields of
// clientcmd's v1 format that decide where it connects and as whom.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Contexts       []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server     string `yaml:"server"`
			CAFile     string `yaml:"certificate-authority"`
			CAData     string `yaml:"certificate-authority-data"`
			ProxyURL   string `yaml:"proxy-url"`
			SkipVerify bool   `yaml:"insecure-skip-tls-verify"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			CertFile  string `yaml:"client-certificate"`
			CertData  string `yaml:"client-certificate-data"`
			KeyFile   string `yaml:"client-key"`
			KeyData   string `yaml:"client-key-data"`
			TokenFile string `yaml:"tokenFile"`
			Exec      *struct {
				Command string `yaml:"command"`
			} `yaml:"exec"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// checkKubeconfig loads a kubeconfig as a deploy would, with the given
// context (empty: its current one), and reads the certificates and keys
// it names, as client-go's clientcmd and rest.TLSConfigFor do: the
// context, its cluster and its user must exist, the cluster must have a
// server, and the CA, the client certificate and its key must parse.
// Relative paths are read from the kubeconfig's directory.
func checkKubeconfig(path, context string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	file := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	name := context
	if name == "" {
		name = kc.CurrentContext
	}
	var names []string
	ctx := -1
	for i, c := range kc.Contexts {
		names = append(names, c.Name)
		if c.Name == name && name != "" {
			ctx = i
		}
	}
	if ctx < 0 {
		slices.Sort(names)
		return fmt.Errorf("no context %q (contexts: %s)", name, strings.Join(names, ", "))
	}
	want := kc.Contexts[ctx].Context
	var errs []error
	found := false
	for _, c := range kc.Clusters {
		if c.Name != want.Cluster {
			continue
		}
		found = true
		cl := c.Cluster
		if cl.Server == "" {
			errs = append(errs, fmt.Errorf("no server found for cluster %q", c.Name))
		}
		if err := checkCA(file(cl.CAFile), cl.CAData); err != nil {
			errs = append(errs, fmt.Errorf("cluster %q: unable to load root certificates: %v", c.Name, err))
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("context %q: no cluster %q", name, want.Cluster))
	}
	found = want.User == ""
	for _, u := range kc.Users {
		if u.Name != want.User || want.User == "" {
			continue
		}
		found = true
		if err := checkClientCert(file(u.User.CertFile), u.User.CertData, file(u.User.KeyFile), u.User.KeyData); err != nil {
			errs = append(errs, fmt.Errorf("user %q: %v", u.Name, err))
		}
		if f := file(u.User.TokenFile); f != "" {
			if _, err := os.ReadFile(f); err != nil {
				errs = append(errs, fmt.Errorf("user %q: %v", u.Name, err))
			}
		}
		if x := u.User.Exec; x != nil && x.Command == "" {
			errs = append(errs, fmt.Errorf("user %q: exec: command is required", u.Name))
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("context %q: no user %q", name, want.User))
	}
	return errors.Join(errs...)
}

// pemData reads what a kubeconfig gives inline (base64, as in
// certificate-authority-data) or by a file's name.
func pemData(file, data string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(strings.TrimSpace(data))
	}
	if file == "" {
		return nil, nil
	}
	return os.ReadFile(file)
}

// checkCA parses every certificate of the cluster's CA, if it names one.
func checkCA(file, data string) error {
	b, err := pemData(file, data)
	if err != nil || b == nil {
		return err
	}
	n := 0
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("unable to parse bytes as PEM block")
	}
	return nil
}

// checkClientCert parses the user's client certificate and key together,
// if it has them.
func checkClientCert(certFile, certData, keyFile, keyData string) error {
	cert, err := pemData(certFile, certData)
	if err != nil {
		return err
	}
	key, err := pemData(keyFile, keyData)
	if err != nil {
		return err
	}
	switch {
	case cert == nil && key == nil:
		return nil
	case cert == nil || key == nil:
		return errors.New("a client certificate needs its key, and a key its certificate")
	}
	_, err = tls.X509KeyPair(cert, key)
	return err
}
