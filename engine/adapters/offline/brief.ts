// Reading a brief the way a copywriter would: product, audience, tone, setting, palette, protagonist.
import { frameworkOf, type Framework } from './frameworks.ts'
import { article, asInt, coloursIn, hash, hslHex, hueOf, keywords, pick, str } from './text.ts'

/** Everything the offline writer and critics derive from a brief and its variables. */
export interface Brief {
  brief: string
  framework: Framework
  durationS: number
  sceneCount: number
  product: string
  /** What the product is ("smart desk lamp"), or "" when the brief does not say. */
  kind: string
  audience: string
  tone: string
  setting: string
  /** Key light of the piece ("warm golden-hour light"). */
  light: string
  palette: string[]
  protagonist: string
  /** The brief's focus words (no product name, no numbers). */
  focus: string[]
  seed: number
}

const NOT_NAMES = new Set([
  'A',
  'An',
  'The',
  'I',
  'AIDA',
  'PAS',
  'FAB',
  'Make',
  'Create',
  'Write',
  'Show',
  'Use',
  'Our',
  'We',
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'Saturday',
  'Sunday',
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
  'Christmas',
  'TV',
  'CTA',
  'USD',
  'EUR',
])

/** Words that open a brief without naming anything: verbs of the request, pronouns, greetings. */
const OPENERS =
  /^(?:sell|selling|promote|advertise|launch|introduce|introducing|present|pitch|get|try|buy|keep|help|tell|imagine|discover|need|looking|this|that|these|here|hello|hi|please|target|targeting|for|in|at|with|every|all|new|best|perfect|make|create|write|show|use)\b/i

/** The product's name from the brief: a quoted name, "Meet X"/"called X", a capitalised name, "an ad for X". */
function productOf(brief: string): string {
  const quoted = brief.match(/(?:^|[\s(])["“‘']([A-Z][^"”’'\n]{1,40})["”’']/)
  if (quoted) return quoted[1]!.trim()
  const named = brief.match(/\b(?:[Mm]eet|[Ii]ntroducing|called|named|[Bb]rand)\s+([A-Z][\w’'&-]*(?:\s+[A-Z0-9][\w’'&-]*){0,3})/)
  if (named) return named[1]!
  // A capitalised run that does not open a sentence.
  for (const m of brief.matchAll(/(?<![.!?]\s|^)(?<=\s|\()([A-Z][\w’'&-]*(?:\s+[A-Z0-9][\w’'&-]*){0,3})/g)) {
    const name = m[1]!
      .split(/\s+/)
      .filter((w) => !NOT_NAMES.has(w))
      .join(' ')
    if (name && !NOT_NAMES.has(name)) return name
  }
  // a name that opens the brief itself ("Zest electrolyte drink for …"), when it is not a verb or a common opener
  const opening = brief.match(/^([A-Z][\w’'&-]*(?:\s+[A-Z0-9][\w’'&-]*){0,3})\s+[a-z]/)
  if (opening && !NOT_NAMES.has(opening[1]!.split(/\s+/)[0]!) && !OPENERS.test(opening[1]!)) return opening[1]!
  const generic = brief.match(
    /\b(?:ad|advert|advertisement|commercial|spot|video|promo|campaign)\s+(?:for|about|promoting)\s+(?:our|the|a|an|my)?\s*(?:new\s+)?([a-z][a-z0-9 -]{2,40}?)(?=\s+(?:for|that|to|aimed|targeting|with|who|in|which)\b|[,.;!?]|$)/i,
  )
  if (generic) return generic[1]!.trim()
  const selling = brief.match(
    /\b(?:sell|selling|promote|promoting|advertise|advertising|launch|launching|showcase)\s+(?:my|our|the|a|an|this)?\s*(?:new\s+)?([a-z][a-z0-9 -]{2,40}?)(?=\s+(?:for|that|to|aimed|targeting|with|who|in|which|on)\b|[,.;!?]|$)/i,
  )
  if (selling) return selling[1]!.trim()
  const leading = brief.match(/^(?:an?\s+)?([A-Za-z][A-Za-z -]{2,30}?)\s+(?:commercial|ad|advert|spot|promo)\b/i)
  if (leading) return leading[1]!.trim().toLowerCase()
  return 'the product'
}

/** What the product is, from an appositive ("Lumo, a smart desk lamp for nurses" → "smart desk lamp"). */
function kindOf(brief: string, product: string): string {
  const esc = product.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const m = brief.match(new RegExp(`${esc}[,:]?\\s+(?:is\\s+)?(?:a|an|the)\\s+([a-z][a-z0-9 -]{2,40}?)(?=\\s+(?:for|that|to|which|who|with|made)\\b|[,.;!?]|$)`, 'i'))
  return m ? m[1]!.trim() : ''
}

/** Who the ad speaks to: "for night-shift nurses", "aimed at students"; "" when the brief does not say. */
function audienceOf(brief: string, product: string): string {
  const found: string[] = []
  // "for night-shift nurses", "aimed at teenagers", and "sell … to urban cyclists" (`to` only after a verb of selling)
  const intro =
    /\b(?:for|aimed at|targeting|targeted at|to reach|made for|(?:[Ii]ntroduc(?:e|ing)|[Ss]ell(?:ing)?|[Pp]resent(?:ing)?|[Aa]dvertis(?:e|ing)|[Pp]romot(?:e|ing)|[Mm]arket(?:ing)?|[Pp]itch(?:ing)?)\b[^.!?]*?\bto)\s+((?:busy |young |new |first-time |working |modern )?[a-z][a-z0-9 '-]{2,40}?)(?=\s+(?:who|that|with|in|on|at|using|during|for|aimed|targeting|to|before|after|while|when|[a-z]+ing)\b|[,.;:!?]|$)/g
  for (const m of brief.matchAll(intro)) {
    const a = m[1]!.trim()
    // "for summer afternoons", "for long weekends" say when, not who
    const when =
      /\b(?:mornings?|afternoons?|evenings?|nights?|days?|weeks?|weekends?|summers?|winters?|springs?|autumns?|holidays?|seasons?|breaks?|lunch(?:es)?|breakfasts?|dinners?|hours?|minutes?|months?|years?)$/.test(
        a,
      )
    if (!when && !product.toLowerCase().includes(a) && !/^(?:a|an|the|our|my)\b/.test(a) && !/\bsecond|minute/.test(a)) found.push(a)
  }
  return found.at(-1) ?? ''
}

/** Tone words a brief (or a reviewer) uses, mapped to a tone a director would write down. */
const TONES: Array<[RegExp, string]> = [
  [/\b(?:funny|funnier|humou?r(?:ous)?|joke|jokes|witty|comic|comedic|playful|lighter)\b/i, 'playful and funny'],
  [/\b(?:heartfelt|emotional|touching|moving|sentimental|tender)\b/i, 'heartfelt'],
  [/\b(?:energetic|energy|upbeat|exciting|punchy|dynamic|faster|hype)\b/i, 'energetic'],
  [/\b(?:calm|calmer|relaxed|soothing|serene|gentle|quiet)\b/i, 'calm and reassuring'],
  [/\b(?:premium|luxury|luxurious|elegant|sophisticated|refined)\b/i, 'premium and refined'],
  [/\b(?:serious|professional|credible|trustworthy|corporate)\b/i, 'serious and credible'],
  [/\b(?:bold|edgy|daring|provocative|rebellious)\b/i, 'bold'],
  [/\b(?:warm|reassuring|friendly|cosy|cozy|kind)\b/i, 'warm and reassuring'],
  [/\b(?:inspiring|inspirational|uplifting|hopeful|aspirational)\b/i, 'uplifting'],
]

export function toneOf(text: string): string {
  return TONES.find(([re]) => re.test(text))?.[1] ?? ''
}

const DEFAULT_TONE: Record<Framework, string> = { AIDA: 'upbeat', PAS: 'empathetic, then uplifting', FAB: 'confident and clear', custom: 'warm and reassuring' }

const LIGHT: Record<string, string> = {
  'playful and funny': 'bright, punchy midday light',
  heartfelt: 'warm golden-hour light',
  energetic: 'high-contrast light with neon accents',
  'calm and reassuring': 'soft, diffused morning light',
  'premium and refined': 'low-key amber light with deep shadows',
  'serious and credible': 'clean, neutral daylight',
  bold: 'hard light with saturated colour',
  'warm and reassuring': 'warm lamplight with a soft glow',
  uplifting: 'bright sunrise light',
}

/** Light follows tone; a brief that mentions night or dawn wins. */
function lightOf(brief: string, tone: string, seed: number): string {
  if (/\b(?:night|nights|night-shift|midnight|late)\b/i.test(brief)) return 'low amber lamplight against blue night shadows'
  if (/\b(?:morning|sunrise|dawn|breakfast)\b/i.test(brief)) return 'soft golden morning light'
  return LIGHT[tone] ?? pick(Object.values(LIGHT), seed, 3)
}

const SETTINGS: Array<[RegExp, string]> = [
  [/\b(?:nurse|nurses|hospital|clinic|doctor|ward)\b/i, 'a quiet hospital ward and its staff break room'],
  [/\b(?:kitchen|cook|cooking|recipe|breakfast|coffee maker)\b/i, 'a lived-in apartment kitchen'],
  [/\b(?:office|desk|work|remote|startup|meeting)\b/i, 'a compact home office by a window'],
  [/\b(?:gym|fitness|workout|run|runner|runners|running|training)\b/i, 'a neighbourhood gym and the street outside'],
  [/\b(?:beach|surf|ocean|sea|summer)\b/i, 'a windswept beach boardwalk'],
  [/\b(?:city|urban|commute|commuters|subway|street)\b/i, 'a busy city street and a crowded commuter train'],
  [/\b(?:café|cafe|coffee|bakery)\b/i, 'a small corner café'],
  [/\b(?:hike|hiking|trail|forest|outdoor|camping)\b/i, 'a misty forest trail'],
  [/\b(?:skincare|skin|bathroom|beauty|shower)\b/i, 'a bright tiled bathroom'],
  [/\b(?:student|students|school|campus|study|exam)\b/i, 'a campus library and a shared flat'],
  [/\b(?:car|drive|driving|road)\b/i, 'a car on a winding coastal road'],
  [/\b(?:pet|dog|dogs|cat|cats)\b/i, 'a sunny family living room'],
  [/\b(?:family|home|parents|kids|children)\b/i, 'a busy family home'],
]

function settingOf(brief: string, seed: number): string {
  return SETTINGS.find(([re]) => re.test(brief))?.[1] ?? pick(['a sunlit loft apartment', 'a neighbourhood market street', 'a rooftop terrace at the edge of the city'], seed, 5)
}

const NAMES = ['Maya', 'Leo', 'Priya', 'Sam', 'Ana', 'Kenji', 'Zoe', 'Omar', 'Lena', 'Diego', 'Ava', 'Noah', 'Ines', 'Theo', 'Amara', 'Jonah']

/** The palette: colour words of the brief first, then hues hashed from its words; 4 colours. */
function paletteOf(brief: string, seed: number): string[] {
  const named = coloursIn(brief).slice(0, 4)
  // Named colours set the hue the rest of the palette is built around; otherwise the brief's hash does.
  const hue = named.length ? hueOf(named[0]!) : seed % 360
  const fill = named.length
    ? [hslHex(hue, 0.35, 0.16), hslHex((hue + 20) % 360, 0.3, 0.92), hslHex((hue + 180) % 360, 0.55, 0.5)]
    : [hslHex(hue, 0.55, 0.42), hslHex((hue + 35) % 360, 0.65, 0.62), hslHex((hue + 200) % 360, 0.4, 0.3), hslHex((hue + 20) % 360, 0.25, 0.92)]
  for (const c of fill) if (named.length < 4 && !named.includes(c)) named.push(c)
  return named
}

/** Builds the brief from prompt variables (`brief`, `framework`, `duration_s`, `scene_count`, `product`, `audience`, `tone`). */
export function readBrief(vars: Record<string, unknown>, fallbackProduct = ''): Brief {
  const brief = str(vars.brief) || str(vars.prompt)
  const seed = hash(brief)
  const durationS = asInt(vars.duration_s, 30, 4, 600)
  // The brief is the authority on the product; a draft's own claim comes last.
  const read = productOf(brief)
  const product = str(vars.product) || (read !== 'the product' ? read : '') || fallbackProduct || read
  const tone = str(vars.tone) || toneOf(brief) || DEFAULT_TONE[frameworkOf(vars.framework)]
  return {
    brief,
    framework: frameworkOf(vars.framework),
    durationS,
    sceneCount: asInt(vars.scene_count, Math.max(3, Math.ceil(durationS / 8)), 1, 40),
    product,
    kind: kindOf(brief, product),
    audience: str(vars.audience) || audienceOf(brief, product) || 'everyday customers',
    tone,
    setting: settingOf(brief, seed),
    light: lightOf(brief, tone, seed),
    palette: paletteOf(brief, seed),
    protagonist: pick(NAMES, seed, 1),
    focus: keywords(brief, 8, [product]),
    seed,
  }
}

/**
 * One member of an audience, as a copywriter would name them: "night-shift nurses" → "night-shift nurse",
 * "parents of young children" → "parent of young children", "women over 40" → "woman over 40", "campers and
 * festival-goers" → "camper", "marathon runners training" → "marathon runner". The first plural word is the
 * person; what follows a preposition stays, anything else after it goes.
 */
export function oneOf(audience: string): string {
  const first = audience.split(/ (?:and|or|&) /)[0]!.trim()
  const parts = first.split(' ')
  const at = parts.findIndex((w) => singular(w) !== w)
  if (at < 0) return first
  const rest = parts.slice(at + 1)
  const keep = rest.length && /^(?:of|over|under|aged|with|from|in|who)$/.test(rest[0]!) ? rest : []
  const one = [...parts.slice(0, at), singular(parts[at]!), ...keep].join(' ')
  // a group is not a person: "eco-conscious households" → "member of an eco-conscious household"
  return /\b(?:household|family|team|company|club|community)$/.test(one) ? `member of ${article(one)} ${one}` : one
}

/** A plural noun's singular ("nurses" → "nurse", "children" → "child"); the word itself when it is not plural. */
function singular(word: string): string {
  const w = word.toLowerCase()
  if (w === 'people') return 'person'
  if (w === 'children') return 'child'
  if (w === 'women' || w === 'men') return word.replace(/men$/i, 'man')
  if (/[^aeiou]ies$/.test(w)) return word.slice(0, -3) + 'y'
  if (/(?:ches|shes|sses|xes)$/.test(w)) return word.slice(0, -2)
  if (/[^su]s$/.test(w) && w.length > 3) return word.slice(0, -1)
  return word
}
