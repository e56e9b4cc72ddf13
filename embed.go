// Package pgplay holds the content embedded in the pgplay binary: the HA
// cluster's playbooks, roles and templates.
package pgplay

import "embed"

// Content is the embedded playbooks/, roles/ and templates/ trees.
//
//go:embed all:playbooks all:roles all:templates
var Content embed.FS
