package imaging_test

import (
	"fmt"
	"image/png"
	"log"
	"os"

	"cxrview/imaging"
)

// A viewer opens a film, shows it with the file's own window, lets the user
// change the window, and prepares the model's 512×512 input from what is
// shown.
func Example() {
	im, err := imaging.Open("chest.dcm")
	if err != nil {
		log.Fatal(err) // "chest.dcm: pixel data truncated: …"
	}
	for _, w := range im.Meta.Warnings {
		fmt.Println("note:", w)
	}
	view := imaging.View{Window: im.DefaultWindow()}
	shown := im.Render(view) // full resolution, one table lookup per pixel

	view.Window = imaging.Window{Center: 600, Width: 400} // the user drags
	shown = im.RenderInto(shown, view)                    // reuses the buffer

	input := imaging.PrepareModelInput(shown, 512)
	f, err := os.Create("model-input.png")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	png.Encode(f, input)
}
