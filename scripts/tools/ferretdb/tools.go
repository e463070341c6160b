//go:build tools

package tools

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"

// go-json is imported by zz-fast-json.patch (sjson); named here so `go mod vendor` vendors it
import _ "github.com/goccy/go-json"
