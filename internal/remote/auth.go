package remote

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
)

// Credentials are what a client needs to use a serve host: the token it
// sends and the fingerprint of the certificate it must be shown.
type Credentials struct {
	Token string
	// Fingerprint is the SHA-256 of the server certificate's DER form.
	Fingerprint [sha256.Size]byte
}

// The token file: comment lines and "key value" lines, nothing else.
const (
	tokenKey       = "token"
	fingerprintKey = "cert-sha256"
	minTokenLen    = 32
)

// ReadCredentials reads a token file written by `meshbench serve`. Every
// problem is bad input: the file is the user's to copy again.
func ReadCredentials(path string) (Credentials, error) {
	var c Credentials
	kv, err := readTokenFile(path)
	if err != nil {
		return c, err
	}
	c.Token = kv[tokenKey]
	if err := checkToken(c.Token); err != nil {
		return c, errext.BadInputf("%s: %v", path, err)
	}
	fp, err := hex.DecodeString(kv[fingerprintKey])
	if err != nil || len(fp) != sha256.Size {
		return c, errext.BadInputf("%s: no valid %s line (64 hex digits): copy the file `meshbench serve` wrote", path, fingerprintKey)
	}
	copy(c.Fingerprint[:], fp)
	return c, nil
}

// readTokenFile parses the file into its keys.
func readTokenFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errext.BadInputf("--token-file %s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		v = strings.TrimSpace(v)
		if !ok || (k != tokenKey && k != fingerprintKey) || v == "" {
			return nil, errext.BadInputf("%s:%d: want \"%s VALUE\" or \"%s HEX\"", path, n, tokenKey, fingerprintKey)
		}
		kv[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, errext.BadInputf("%s: %v", path, err)
	}
	return kv, nil
}

func checkToken(t string) error {
	if len(t) < minTokenLen {
		return fmt.Errorf("the token must be at least %d characters", minTokenLen)
	}
	for _, r := range t {
		if r <= ' ' || r > '~' {
			return errors.New("the token must be printable ASCII without spaces")
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// prepareCredentials is the server side: it keeps the token of an existing
// file (so clients keep theirs across restarts of serve) or makes a random
// one, and writes the file anew, mode 0600, with the fingerprint of cert.
func prepareCredentials(path string, cert *x509.Certificate) (Credentials, error) {
	c := Credentials{Fingerprint: sha256.Sum256(cert.Raw)}
	if _, err := os.Stat(path); err == nil {
		kv, err := readTokenFile(path)
		if err != nil {
			return c, err
		}
		if c.Token = kv[tokenKey]; c.Token != "" {
			if err := checkToken(c.Token); err != nil {
				return c, errext.BadInputf("%s: %v (remove the file to have a new token made)", path, err)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, errext.BadInputf("--token-file %s: %v", path, unwrapPath(err))
	}
	if c.Token == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return c, err
		}
		c.Token = hex.EncodeToString(b)
	}
	text := fmt.Sprintf("# meshbench serve: the control API's token and its certificate's SHA-256.\n"+
		"# Keep it secret; give a copy to `meshbench run --remote URL --token-file FILE`.\n"+
		"%s %s\n%s %s\n", tokenKey, c.Token, fingerprintKey, hex.EncodeToString(c.Fingerprint[:]))
	return c, writePrivate(path, []byte(text))
}

// writePrivate replaces path with data, mode 0600, through a temp file and
// a rename so that a reader never sees half a file.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return errext.BadInputf("--token-file %s: %v", path, unwrapPath(err))
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// newCertificate makes the server's self-signed ECDSA P-256 certificate for
// host, valid for a week from now. Clients pin it by fingerprint, so its
// names only have to be well formed.
func newCertificate(host string, now time.Time) (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "meshbench serve"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"meshbench-serve"},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert, nil
}

// sameToken compares a presented token with the server's in constant time:
// both are hashed first, so not even the length leaks.
func sameToken(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// errPinned is a server certificate other than the one the token file pins.
type errPinned struct{ got, want [sha256.Size]byte }

func (e *errPinned) Error() string {
	return fmt.Sprintf("the server's certificate has SHA-256 %x, the token file pins %x: copy the token file from the server again (serve makes a new certificate each time it starts)", e.got, e.want)
}

// pinnedTLS is the client's TLS config: no CA, only the certificate whose
// SHA-256 is fp.
func pinnedTLS(fp [sha256.Size]byte) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is not verified against a CA; VerifyConnection checks
		// the one certificate that is acceptable, on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server presented no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], fp[:]) != 1 {
				return &errPinned{got: got, want: fp}
			}
			return nil
		},
	}
}
