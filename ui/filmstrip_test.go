package ui

import (
	"fmt"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
)

// TestFilmstripThumbsNearView: a long folder gets thumbnails for the tiles
// in and near view only, at most maxThumbs of them; scrolling to its end
// makes the thumbnails there and drops those farthest from view.
func TestFilmstripThumbsNearView(t *testing.T) {
	dir := t.TempDir()
	const n = 90
	for i := range n {
		writePNG(t, filepath.Join(dir, fmt.Sprintf("case%03d.png", i)), 24, 16, func(x, y int) uint8 { return uint8(i + x) })
	}
	tv := newTestViewer(t, Options{})
	tv.strip.maxThumbs = 25
	tv.OpenFolder(dir)
	tv.pump(func() bool {
		return tv.vp.Image() != nil && tv.pending.Load() == 0 && len(tv.strip.tiles) == n && tv.strip.wanted() < 0
	})
	f, l := tv.strip.view()
	if l-f < 3 {
		t.Fatalf("only tiles %d to %d are in view (scroll %v)", f, l, tv.strip.scroll.Size())
	}
	// check: every tile in view has its thumbnail, no more than
	// maxThumbs are held, and tile far (one a thumbnail would be dropped
	// from first) has none.
	check := func(when string, far int) {
		t.Helper()
		f, l := tv.strip.view()
		count := 0
		for i, tile := range tv.strip.tiles {
			has := tile.img.Image != nil
			if has {
				count++
			}
			if i >= f && i <= l && !has {
				t.Errorf("%s: tile %d is in view (%d–%d) without its thumbnail", when, i, f, l)
			}
		}
		if count > tv.strip.maxThumbs || count != tv.strip.held {
			t.Errorf("%s: %d thumbnails held (counted %d), cap %d", when, tv.strip.held, count, tv.strip.maxThumbs)
		}
		if tv.strip.tiles[far].img.Image != nil {
			t.Errorf("%s: tile %d, the farthest from view, keeps its thumbnail", when, far)
		}
	}
	check("after opening", n-1)

	// Scroll to the end, as the mouse wheel does, and back.
	tv.strip.scroll.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.Delta{DX: -1e6}})
	tv.pump(func() bool { return tv.strip.tiles[n-1].img.Image != nil && tv.strip.wanted() < 0 })
	check("at the end", 0)
	tv.strip.scroll.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.Delta{DX: 1e6}})
	tv.pump(func() bool { return tv.strip.tiles[0].img.Image != nil && tv.strip.wanted() < 0 })
	check("back at the start", n-1)
}
