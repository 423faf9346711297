// The filtergraph of a local reference image (pure): palette background, seeded shapes, role badge, title and prompt excerpt.
import type { ImageRequest } from '../ports.ts'
import { filterValue } from './ffmpeg.ts'
import { backgroundChain, charsFitting, cleanText, ffColour, hashString, luminance, paletteColours, panelBoxes, seededRandom, wrapText } from './look.ts'

/** What ffmpeg needs to paint the image: the graph (output `[v]`) and text files to write in its cwd. */
export interface StillGraph {
  filter: string
  texts: Record<string, string>
}

/** Builds the image's filtergraph; `font` is the TrueType file for drawtext. Same request → same graph. */
export function stillGraph(req: ImageRequest, font: string): StillGraph {
  const { width: W, height: H } = req
  const role = cleanText(req.role ?? '')
  const title = cleanText(req.title ?? '')
  const random = seededRandom((req.seed ?? 0) ^ hashString(`${req.prompt}\0${role}\0${title}`))
  const colours = paletteColours(req.palette, hashString(req.prompt))
  const short = Math.min(W, H)
  const margin = Math.round(short * 0.07)
  const fontArg = `fontfile=${filterValue(font)}:expansion=none`
  const texts: Record<string, string> = {}
  // drawbox draws on YUV only: 4:4:4 keeps full colour resolution until the PNG
  const chain: string[] = [`${backgroundChain(colours, W, H, random)},format=yuv444p`]

  chain.push(...panelBoxes(colours, W, H, random, 3 + Math.floor(random() * 3)))
  chain.push(`drawbox=x=${margin / 2}:y=${margin / 2}:w=${W - margin}:h=${H - margin}:color=white@0.35:t=${Math.max(1, Math.round(short * 0.004))}`)

  const textWidth = W - 2 * margin
  let y = margin
  if (role) {
    const size = Math.round(short * 0.035)
    const accent = colours[3]!
    texts['role.txt'] = role.toUpperCase().slice(0, 40)
    chain.push(
      `drawtext=${fontArg}:textfile=role.txt:fontsize=${size}:fontcolor=${luminance(accent) > 0.55 ? 'black' : 'white'}` +
        `:x=${margin}:y=${y}:box=1:boxcolor=${ffColour(accent, 0.9)}:boxborderw=${Math.round(size * 0.45)}`,
    )
    y += Math.round(size * 2.2)
  }
  if (title) {
    const size = Math.round(short * 0.085)
    const lines = wrapText(title, charsFitting(textWidth, size), 2)
    texts['title.txt'] = lines.join('\n')
    chain.push(`drawtext=${fontArg}:textfile=title.txt:fontsize=${size}:fontcolor=white:line_spacing=${Math.round(size * 0.2)}` + `:x=${margin}:y=${y}:shadowx=2:shadowy=2:shadowcolor=black@0.6`)
    y += Math.round(lines.length * size * 1.25 + size * 0.5)
  }
  const size = Math.round(short * (title ? 0.04 : 0.05))
  const room = Math.max(1, Math.floor((H - margin - y) / (size * 1.35)))
  const lines = wrapText(req.prompt, charsFitting(textWidth, size), Math.min(6, room))
  if (lines.length > 0) {
    texts['prompt.txt'] = lines.join('\n')
    chain.push(
      `drawtext=${fontArg}:textfile=prompt.txt:fontsize=${size}:fontcolor=white:line_spacing=${Math.round(size * 0.35)}` +
        `:x=${margin}:y=${y}:box=1:boxcolor=black@0.3:boxborderw=${Math.round(size * 0.4)}`,
    )
  }
  chain.push('format=rgb24')
  return { filter: `${chain.join(',')}[v]`, texts }
}
