package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key in OpenSSH formats.
type keyPair struct {
	// Private is the OpenSSH private key file content.
	Private string
	// Public is the authorized_keys line.
	Public string
}

// newKeyPair generates an ed25519 key pair (no passphrase).
func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generating an ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, fmt.Errorf("encoding an ed25519 key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, fmt.Errorf("encoding an ed25519 key: %w", err)
	}
	line := string(ssh.MarshalAuthorizedKey(sshPub))
	line = line[:len(line)-1] + " " + comment + "\n"
	return keyPair{Private: string(pem.EncodeToMemory(block)), Public: line}, nil
}
