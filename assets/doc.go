// Package assets embeds the files cxrview ships inside its binary: icons,
// prompt texts and report templates.
package assets
