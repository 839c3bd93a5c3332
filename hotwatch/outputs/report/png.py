"""The sensor map and the timeline drawn with Pillow (``report --png``), from the same
geometry as their SVG versions so that both say the same thing."""

from __future__ import annotations

import math

from hotwatch.core.model import DefectKind

from .collect import AccSection, BodySection, late
from .svg import BAR_JPEG, BAR_RAW, KIND_STYLE, LINE_COLOURS, defect_steps, timeline_geometry
from .times import day, month_end, month_start


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def sensor_map_png(section: AccSection, width: int = 960):
    """The sensor map as a Pillow image, drawn directly (no SVG rasteriser needed)."""
    from PIL import Image, ImageDraw

    acc = section.acc
    margin, legend = 40, 36
    scale = (width - 2 * margin) / acc.width
    height = int(acc.height * scale) + 2 * margin + legend
    img = Image.new("RGB", (width, height), "#15171a")
    draw = ImageDraw.Draw(img)
    font = _font(13)
    x0, y0 = margin, margin
    x1, y1 = margin + acc.width * scale, margin + acc.height * scale
    draw.rectangle((x0, y0, x1, y1), fill="#202327", outline="#9aa0a6", width=2)
    for i in (1, 2, 3):
        draw.line((x0 + (x1 - x0) * i / 4, y0, x0 + (x1 - x0) * i / 4, y1), fill="#33373c")
        draw.line((x0, y0 + (y1 - y0) * i / 4, x1, y0 + (y1 - y0) * i / 4), fill="#33373c")
    title = f"{section.acc.body.label} · {section.title} · {len(section.defects)} defects"
    draw.text((x0, 12), title, fill="#e8eaed", font=font)
    r = 7
    for d in section.defects:
        cx, cy = x0 + (d.x + 0.5) * scale, y0 + (d.y + 0.5) * scale
        is_late = late(d, acc)
        _draw_shape(draw, d.kind, cx, cy, r, "#ffffff" if is_late else None)
        if is_late and len(section.defects) <= 40:
            draw.text((cx + 1.7 * r, cy - 7), f"since {day(d.onset)}", fill="#ffffff", font=font)
    lx = x0
    ly = height - legend + 6
    for kind in DefectKind:
        _draw_shape(draw, kind, lx + 8, ly + 8, 6, None)
        draw.text((lx + 20, ly), kind.value, fill="#e8eaed", font=font)
        lx += 90
    _draw_shape(draw, DefectKind.HOT, lx + 8, ly + 8, 6, "#ffffff")
    draw.text(
        (lx + 20, ly), "ringed: appeared after the first day of photos", fill="#e8eaed", font=font
    )
    return img


def _draw_shape(draw, kind: DefectKind, cx: float, cy: float, r: float, ring: str | None) -> None:
    colour, shape = KIND_STYLE[kind]
    width = 2 if ring else 0
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=ring, width=width)
    elif shape == "square":
        s = 0.9 * r
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=colour, outline=ring, width=width)
    else:
        pts = [(cx, cy - 1.15 * r), (cx + r, cy + 0.75 * r), (cx - r, cy + 0.75 * r)]
        draw.polygon(pts, fill=colour, outline=ring, width=width)


def timeline_png(body: BodySection, scale: int = 2):
    """The timeline as a Pillow image (same geometry as the SVG, drawn at ``scale``)."""
    from PIL import Image, ImageDraw

    if not body.months:
        img = Image.new("RGB", (760 * scale, 60 * scale), "#ffffff")
        ImageDraw.Draw(img).text((10, 10), "no dated photos", fill="#000000", font=_font(24))
        return img
    g = timeline_geometry(body)
    img = Image.new("RGB", (g.width * scale, g.height * scale), "#ffffff")
    draw = ImageDraw.Draw(img)
    font = _font(11 * scale)

    def p(x: float, y: float) -> tuple[float, float]:
        return x * scale, y * scale

    base_y = g.height - g.bottom
    for frac in (0.0, 0.5, 1.0):
        y = g.y_photos(frac * g.photos_max)
        draw.line((*p(g.left, y), *p(g.width - g.right, y)), fill="#e3e6ea", width=scale)
        draw.text(
            p(g.left - 6, y - 7), f"{frac * g.photos_max:g}", fill="#5b6470", font=font, anchor="ra"
        )
        draw.text(
            p(g.width - g.right + 6, y - 7), f"{frac * g.defects_max:g}", fill="#7b4fd6", font=font
        )
    every = max(1, math.ceil(len(body.months) / 12))
    for i, (month, raw, jpg) in enumerate(body.months):
        x0, x1 = g.x(month_start(month)), g.x(month_end(month))
        bw = max(1.0, (x1 - x0) * 0.7)
        bx = x0 + (x1 - x0 - bw) / 2
        if raw:
            draw.rectangle((*p(bx, g.y_photos(raw)), *p(bx + bw, base_y)), fill=BAR_RAW)
        if jpg:
            draw.rectangle(
                (*p(bx, g.y_photos(raw + jpg)), *p(bx + bw, g.y_photos(raw))), fill=BAR_JPEG
            )
        if i % every == 0:
            draw.text(p((x0 + x1) / 2, base_y + 6), month, fill="#5b6470", font=font, anchor="ma")
    draw.line((*p(g.left, base_y), *p(g.width - g.right, base_y)), fill="#5b6470", width=scale)
    for i, sec in enumerate(body.accs):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        steps, base = defect_steps(sec)
        pts = [(g.x(g.t0), g.y_defects(base))]
        for t, n in steps:
            pts += [(g.x(t), pts[-1][1]), (g.x(t), g.y_defects(n))]
        pts.append((g.x(g.t1), pts[-1][1]))
        draw.line([p(x, y) for x, y in pts], fill=colour, width=2 * scale)
        label = f"{sec.title}: {len(sec.defects)} defects"
        draw.text(p(g.left + 4, 16 + 14 * i), label, fill=colour, font=font)
    draw.text(p(g.left, 2), "photos per month (dark RAW, light JPEG)", fill="#5b6470", font=font)
    return img
