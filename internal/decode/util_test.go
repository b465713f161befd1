package decode_test

import "image"

func imageRect(x, y, w, h int) image.Rectangle { return image.Rect(x, y, x+w, y+h) }
