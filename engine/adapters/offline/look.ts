// The look and sound of a piece, derived from its setting and tone: textures, props, camera moves, music.

const BY_SETTING: Array<[RegExp, { textures: string; props: string[]; sfx: string }]> = [
  [
    /hospital|ward|clinic/,
    { textures: 'brushed steel and crisp cotton', props: ['medication trolley', 'clipboard', 'paper coffee cup', 'rain-streaked window'], sfx: 'distant monitor beeps and soft footsteps' },
  ],
  [/kitchen/, { textures: 'worn oak and glazed ceramic', props: ['kettle', 'chopping board', 'ceramic mug', 'window over the sink'], sfx: 'a kettle rumbling and cutlery clinking' }],
  [/office/, { textures: 'matte laminate and soft linen', props: ['laptop', 'notebook', 'desk plant', 'window blind'], sfx: 'keyboard taps and a muffled street below' }],
  [/gym|street outside/, { textures: 'rubber flooring and brushed metal', props: ['water bottle', 'kettlebell', 'locker door', 'running shoes'], sfx: 'weights clanking and a steady heartbeat' }],
  [/beach|boardwalk/, { textures: 'weathered wood and wet sand', props: ['surfboard', 'towel', 'boardwalk railing', 'sunglasses'], sfx: 'waves and gulls' }],
  [/city|commuter|train/, { textures: 'wet asphalt and glass', props: ['train door', 'phone', 'umbrella', 'platform sign'], sfx: 'train brakes and city hum' }],
  [/café|cafe/, { textures: 'marble and steamed milk foam', props: ['espresso cup', 'counter', 'chalkboard menu', 'window seat'], sfx: 'an espresso machine hissing' }],
  [/forest|trail/, { textures: 'moss, bark and mist', props: ['backpack', 'trail marker', 'water flask', 'fallen log'], sfx: 'birdsong and crunching leaves' }],
  [/bathroom/, { textures: 'white tile and frosted glass', props: ['mirror', 'sink', 'folded towel', 'shelf of bottles'], sfx: 'running water and a soft exhale' }],
  [/library|campus|flat/, { textures: 'paper, wood and wool', props: ['stack of books', 'laptop', 'desk lamp', 'mug of tea'], sfx: 'pages turning and quiet chatter' }],
  [/car|road/, { textures: 'leather and chrome', props: ['steering wheel', 'dashboard', 'side mirror', 'open window'], sfx: 'engine purr and wind' }],
  [/living room|family home/, { textures: 'wool throws and warm wood', props: ['sofa', 'coffee table', 'family photo', 'front door'], sfx: 'laughter in the next room' }],
]
const DEFAULT_LOOK = { textures: 'matte concrete and soft linen', props: ['table', 'window', 'doorway', 'bag'], sfx: 'room tone and footsteps' }

export function lookOf(setting: string): { textures: string; props: string[]; sfx: string } {
  return BY_SETTING.find(([re]) => re.test(setting.toLowerCase()))?.[1] ?? DEFAULT_LOOK
}

/** "a quiet hospital ward and its staff break room" → "the quiet hospital ward". */
export function placeOf(setting: string): string {
  const head = setting
    .split(/\s+and\s+|,/)[0]!
    .trim()
    .replace(/^(?:a|an|the)\s+/i, '')
  return `the ${head}`
}

/** The setting's defining noun ("ward", "kitchen"), used to check that scenes stay in place. */
export function placeNoun(setting: string): string {
  return placeOf(setting).split(/\s+/).at(-1) ?? ''
}

const CAMERA_MOVES = ['slow push-in', 'pan left', 'static wide', 'orbit', 'tracking shot', 'handheld follow', 'crane down', 'dolly out', 'tilt up', 'rack focus', 'pan right', 'overhead top-down']
const SHOT_SIZES = ['wide shot', 'medium shot', 'close-up', 'extreme close-up', 'over-the-shoulder shot', 'medium close-up']

/** Camera moves a shot list would use per stage; varied by beat so neighbours differ. */
export function cameraMove(stage: string, index: number): string {
  const byStage: Record<string, number> = {
    attention: 0,
    problem: 5,
    hook: 0,
    features: 3,
    interest: 4,
    agitate: 5,
    build: 4,
    advantages: 1,
    desire: 3,
    solution: 0,
    payoff: 3,
    benefits: 6,
    action: 2,
    close: 2,
  }
  return CAMERA_MOVES[((byStage[stage] ?? index) + index * 5) % CAMERA_MOVES.length]!
}

export function shotSize(index: number, last: boolean): string {
  return last ? 'wide shot' : SHOT_SIZES[(index * 2 + 1) % SHOT_SIZES.length]!
}

const MUSIC: Record<string, string> = {
  'playful and funny': 'bouncy pizzicato strings',
  heartfelt: 'solo piano swelling into strings',
  energetic: 'driving electronic beat',
  'calm and reassuring': 'soft ambient pads',
  'premium and refined': 'slow cello and muted piano',
  'serious and credible': 'minimal pulsing synth',
  bold: 'distorted bass and claps',
  'warm and reassuring': 'warm acoustic guitar',
  uplifting: 'bright piano and claps',
}

export function musicOf(tone: string): string {
  return MUSIC[tone] ?? 'warm acoustic guitar'
}
