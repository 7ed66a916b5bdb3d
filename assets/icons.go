package assets

import _ "embed"

//go:generate go run icon_gen.go

// icon.png is generated from icon.svg by icon_gen.go.
//
//go:embed icon.png
var appIconPNG []byte

//go:embed icon.svg
var appIconSVG []byte

// AppIcon returns the application icon as a 512×512 PNG.
func AppIcon() []byte { return appIconPNG }

// AppIconSVG returns the application icon's source drawing.
func AppIconSVG() []byte { return appIconSVG }
