//go:build ignore

// icon_gen rasterises icon.svg into icon.png (512×512) with the SVG
// renderer Fyne itself uses. Run it with `go generate ./assets` after
// editing the SVG.
package main

import (
	"bytes"
	"image"
	"image/png"
	"log"
	"os"

	"github.com/fyne-io/oksvg"
	"github.com/srwiley/rasterx"
)

func main() {
	const side = 512
	icon, err := oksvg.ReadIcon("icon.svg", oksvg.StrictErrorMode)
	if err != nil {
		log.Fatal(err)
	}
	icon.SetTarget(0, 0, side, side)
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	scanner := rasterx.NewScannerGV(side, side, img, img.Bounds())
	icon.Draw(rasterx.NewDasher(side, side, scanner), 1)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("icon.png", buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
