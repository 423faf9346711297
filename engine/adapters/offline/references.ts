// The offline reference designer: character, product and environment images described from the story.
import { lookOf, placeOf } from './look.ts'
import { readStory } from './story-critique.ts'
import { asInt, asObject, colourName, hash, hslHex, isHex } from './text.ts'

export interface ReferenceImage {
  role: 'character' | 'product' | 'environment'
  description: string
  palette: string[]
  style: string
}

/** The references answer (reference_designer.yaml's output shape). */
export function designReferences(vars: Record<string, unknown>): { images: ReferenceImage[] } {
  const s = readStory(vars.story)
  const brand = asObject(vars.brand) ?? {}
  const productPhotos = asInt(brand.product_images, 0, 0, 100)
  const characterPhotos = asInt(brand.character_images, 0, 0, 100)
  const logo = brand.logo === true || brand.logo === 'true'
  const seed = hash(JSON.stringify(vars.story ?? ''))
  const palette = s?.palette.filter(isHex).length ? s.palette.filter(isHex) : [hslHex(seed % 360, 0.5, 0.45), hslHex((seed + 40) % 360, 0.6, 0.6), hslHex((seed + 200) % 360, 0.35, 0.3)]
  const names = palette.map(colourName)
  const style = s?.visual_style || 'Cinematic natural realism, 35mm lens, soft light.'
  const hero = s?.characters[0]
  const product = s?.product || 'the product'
  const setting = s?.setting || 'a bright, uncluttered interior.'
  const look = lookOf(setting)
  const from = (n: number, what: string) =>
    n > 0 ? ` Match the ${n} supplied ${what} photo${n === 1 ? '' : 's'} exactly: they are the source of truth; this text only fills in what they do not show.` : ''

  const character = hero
    ? `${hero.description.replace(/\.$/, '')}. Three-quarter view, neutral expression, ${names[0]} wardrobe against a plain ${names.at(-1)} backdrop, soft key light from the left.`
    : `The protagonist: mid-thirties, warm expression, ${names[0]} wardrobe, three-quarter view against a plain backdrop.`
  const productText =
    `${product}: hero product shot, centred on ${look.textures.split(' and ')[0]}, ${names[1] ?? names[0]} accents, crisp edges and true-to-life materials, soft reflections, no other branding.` +
    (logo ? ' The brand logo sits clearly on the product or its packaging, upright and legible.' : '')
  const environment = `${placeOf(setting)
    .replace(/^the /, '')
    .replace(/^./, (c) =>
      c.toUpperCase(),
    )} with no people: ${look.props.slice(0, 3).join(', ')}; ${look.textures}; ${setting.replace(/^[^,]*,\s*/, '').replace(/\.$/, '') || 'soft natural light'}; ${names.slice(0, 3).join(', ')} tones.`

  return {
    images: [
      { role: 'character', description: character + from(characterPhotos, 'character'), palette: palette.slice(0, 3), style },
      { role: 'product', description: productText + from(productPhotos, 'product'), palette: palette.slice(0, 3), style },
      { role: 'environment', description: environment, palette: palette.slice(0, 4), style },
    ],
  }
}
