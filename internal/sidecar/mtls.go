package sidecar

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// IdentityName is the name every sidecar certificate carries and every
// outbound sidecar checks by default. Linkerd names a proxy after its
// service account; meshbench's mesh has one service, so one name does.
const IdentityName = "sidecar.meshbench.local"

// certLifetime is how long the ephemeral certificates live. Linkerd 2
// issues 24 h workload certificates; a benchmark run is far shorter.
const certLifetime = 24 * time.Hour

// CA is an ephemeral certificate authority, made at start and never
// written anywhere but the run's private temp directory.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// NewCA makes a CA valid from a minute before now (clock skew between the
// processes of one host is nil, but a second of rounding is not).
func NewCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "meshbench ephemeral CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM is the CA certificate, the trust root of the mesh.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Issue makes a leaf for name, good for both ends of a mutual TLS
// handshake: a sidecar is a server to its peers and a client of them.
func (ca *CA) Issue(name string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial would still
		// be a valid certificate.
		return big.NewInt(1)
	}
	return n
}

// WriteMesh makes a CA and one certificate for the outbound sidecar and one
// for the inbound sidecars, writes them into dir (keys 0600) and returns
// the file sets to give each side.
func WriteMesh(dir string, now time.Time) (outbound, inbound TLSFiles, err error) {
	ca, err := NewCA(now)
	if err != nil {
		return TLSFiles{}, TLSFiles{}, err
	}
	caFile := filepath.Join(dir, "mesh-ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		return TLSFiles{}, TLSFiles{}, err
	}
	write := func(role string) (TLSFiles, error) {
		c, k, err := ca.Issue(IdentityName, now)
		if err != nil {
			return TLSFiles{}, err
		}
		f := TLSFiles{
			Cert: filepath.Join(dir, role+".pem"), Key: filepath.Join(dir, role+"-key.pem"),
			CA: caFile, ServerName: IdentityName,
		}
		if err := os.WriteFile(f.Cert, c, 0o644); err != nil {
			return TLSFiles{}, err
		}
		// WriteFile keeps the mode of a file that exists; make sure.
		if err := os.WriteFile(f.Key, k, 0o600); err != nil {
			return TLSFiles{}, err
		}
		return f, os.Chmod(f.Key, 0o600)
	}
	if outbound, err = write("outbound"); err != nil {
		return TLSFiles{}, TLSFiles{}, err
	}
	if inbound, err = write("inbound"); err != nil {
		return TLSFiles{}, TLSFiles{}, err
	}
	return outbound, inbound, nil
}

func (t TLSFiles) load() (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("mTLS certificate: %w", err)
	}
	caPEM, err := os.ReadFile(t.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("mTLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, errors.New("mTLS CA: no PEM certificate in " + t.CA)
	}
	return cert, pool, nil
}

// ServerTLS is the inbound side of the mesh hop: TLS 1.3 only, HTTP/2
// only, and a client certificate from the mesh CA is required.
func (t TLSFiles) ServerTLS() (*tls.Config, error) {
	cert, pool, err := t.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"h2"},
	}, nil
}

// ClientTLS is the outbound side: TLS 1.3 only, presents its own
// certificate and accepts only a peer the mesh CA issued for ServerName.
func (t TLSFiles) ClientTLS() (*tls.Config, error) {
	cert, pool, err := t.load()
	if err != nil {
		return nil, err
	}
	name := t.ServerName
	if name == "" {
		name = IdentityName
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   name,
		NextProtos:   []string{"h2"},
	}, nil
}
