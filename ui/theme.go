package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// readingTheme is Fyne's theme in a fixed variant, with a calm dark
// palette for reading rooms: low-luminance greys that keep the film the
// brightest thing on the screen, and a muted blue accent.
type readingTheme struct {
	variant fyne.ThemeVariant
}

// themeFor returns the theme named in the settings: "light", or the dark
// default for anything else.
func themeFor(name string) fyne.Theme {
	if name == "light" {
		return readingTheme{variant: theme.VariantLight}
	}
	return readingTheme{variant: theme.VariantDark}
}

var _ fyne.Theme = readingTheme{}

func (t readingTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	if t.variant == theme.VariantDark {
		switch n {
		case theme.ColorNameBackground:
			return color.NRGBA{0x14, 0x16, 0x19, 0xff}
		case theme.ColorNameHeaderBackground, theme.ColorNameMenuBackground, theme.ColorNameOverlayBackground:
			return color.NRGBA{0x1b, 0x1e, 0x22, 0xff}
		case theme.ColorNameInputBackground:
			return color.NRGBA{0x1e, 0x21, 0x26, 0xff}
		case theme.ColorNameButton:
			return color.NRGBA{0x26, 0x2a, 0x30, 0xff}
		case theme.ColorNameSeparator, theme.ColorNameInputBorder:
			return color.NRGBA{0x2c, 0x30, 0x37, 0xff}
		case theme.ColorNameForeground:
			return color.NRGBA{0xc9, 0xcd, 0xd3, 0xff}
		case theme.ColorNameDisabled, theme.ColorNamePlaceHolder:
			return color.NRGBA{0x6c, 0x72, 0x7b, 0xff}
		case theme.ColorNamePrimary, theme.ColorNameFocus, theme.ColorNameHyperlink:
			return color.NRGBA{0x6f, 0x93, 0xc4, 0xff}
		case theme.ColorNameSelection:
			return color.NRGBA{0x6f, 0x93, 0xc4, 0x50}
		case theme.ColorNameHover:
			return color.NRGBA{0xff, 0xff, 0xff, 0x0e}
		case theme.ColorNameScrollBar:
			return color.NRGBA{0xff, 0xff, 0xff, 0x30}
		}
	}
	if n == theme.ColorNamePrimary || n == theme.ColorNameFocus {
		return color.NRGBA{0x3d, 0x6a, 0xa8, 0xff}
	}
	return theme.DefaultTheme().Color(n, t.variant)
}

func (readingTheme) Font(s fyne.TextStyle) fyne.Resource { return theme.DefaultTheme().Font(s) }

func (readingTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return theme.DefaultTheme().Icon(n) }

func (readingTheme) Size(n fyne.ThemeSizeName) float32 { return theme.DefaultTheme().Size(n) }
