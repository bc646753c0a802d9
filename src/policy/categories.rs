//! What else a configured sensitive category is called: its names in
//! other languages and its IAB Content Taxonomy 1.0 code, and the other
//! members an event's category can hide in (docs/policy.md "Sensitive
//! categories").
//!
//! An operator who lists `"health"` means the topic, not the English word:
//! `"Gesundheit"`, `"Santé"`, `"健康"` and `"IAB7"` are the same category.
//! The table holds the topics such lists name; a configured category not in
//! it is matched by its own words only.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::canon;
use crate::event::{as_str, kind_of, Event, JsonKind};
use crate::json;
use crate::policy::guard;

/// Names of a topic that are its category only as the whole value
/// (`"context": {"category": "PrEP"}`): each also means something else
/// inside a longer one (meal prep, hearing aids, a Plan B for the
/// weekend), so only a category that is nothing but one of them is
/// sensitive.
const WHOLE_VALUES: &[(&str, &[&str])] = &[
    (
        "health",
        &[
            "prep",
            "hiv prep",
            "aids",
            "hiv aids",
            "sti",
            "stis",
            "std",
            "stds",
            "sti testing",
            "std testing",
            "hba",
            "plan b",
            "bipolar",
            "bipolar disorder",
            "hrt",
            "surgery",
            "surgeries",
            "pill",
            "pills",
            "syringe",
            "クリニック",
            "ヘルス",
            "へるす",
            // The fifteenth pass: initials and short names that are also
            // other words inside a longer category (a UTI, an IUD, OCD).
            "uti",
            "utis",
            "uti treatment",
            "iud",
            "iuds",
            "ocd",
            "ibs",
            "gerd",
            "chemo",
            "detox",
            "flu",
            "rehab center",
            "std clinic",
            "mri",
            "rx",
            // Names of films, bands, books and brands inside a longer
            // category (`Music > Inhaler`, `Insomnia Cookies`,
            // `Antibiotic-Free Chicken`, `Parkinson's Law`).
            "inhaler",
            "inhalers",
            "insomnia",
            "heartburn",
            "antibiotic",
            "antibiotics",
            "suicide",
            "parkinson",
            "parkinsons",
            // Vietnamese "health care" (`y tế`): as two short words it is
            // also Spanish "and you" inside longer text.
            "y tế",
        ],
    ),
    (
        "pharmacy",
        &[
            "thuốc",
            "ยา",
            "rx",
            "meds",
            "otc meds",
            // The eighteenth pass: medicine in one character (inside a
            // longer word it is gunpowder, a pesticide, a promise).
            "薬",
            "药",
            "藥",
            "약",
            // A pharmacist (inside a longer word: 계약사항, contract terms).
            "약사",
            "くすり",
            "クスリ",
            "ドラッグ",
            // `Sanitas` is a wallcovering, `LEKI` trekking poles.
            "sanità",
            // Inside a longer Korean word these are a member of
            // parliament (국회의원) or chemicals (화학약품).
            "의원",
            "약품",
            "처방",
            "hlth",
        ],
    ),
];

/// Medicines by name, brand and generic: a category, a product line or a
/// page named after one is health data (what someone is treated with) and
/// a pharmacy's aisle. Both topics list them.
const MEDICINES: &[&str] = &[
    "prozac",
    "fluoxetine",
    "zoloft",
    "sertraline",
    "lexapro",
    "escitalopram",
    "celexa",
    "citalopram",
    "paxil",
    "paroxetine",
    "wellbutrin",
    "bupropion",
    "cymbalta",
    "duloxetine",
    "effexor",
    "venlafaxine",
    "xanax",
    "alprazolam",
    "valium",
    "diazepam",
    "ativan",
    "lorazepam",
    "klonopin",
    "clonazepam",
    "ambien",
    "zolpidem",
    "seroquel",
    "quetiapine",
    "abilify",
    "aripiprazole",
    "risperdal",
    "risperidone",
    "zyprexa",
    "olanzapine",
    "lamictal",
    "lamotrigine",
    "ritalin",
    "methylphenidate",
    "vyvanse",
    "strattera",
    "mounjaro",
    "zepbound",
    "tirzepatide",
    "saxenda",
    "liraglutide",
    "trulicity",
    "glp 1",
    "glp1",
    "jardiance",
    "januvia",
    "lantus",
    "humalog",
    "novolog",
    "lipitor",
    "atorvastatin",
    "crestor",
    "rosuvastatin",
    "simvastatin",
    "statin",
    "lisinopril",
    "amlodipine",
    "losartan",
    "metoprolol",
    "eliquis",
    "xarelto",
    "warfarin",
    "plavix",
    "clopidogrel",
    "synthroid",
    "levothyroxine",
    "prednisone",
    "gabapentin",
    "lyrica",
    "pregabalin",
    "tramadol",
    "oxycodone",
    "oxycontin",
    "hydrocodone",
    "vicodin",
    "percocet",
    "fentanyl",
    "morphine",
    "codeine",
    "methadone",
    "buprenorphine",
    "suboxone",
    "narcan",
    "naltrexone",
    "vivitrol",
    "truvada",
    "descovy",
    "biktarvy",
    "valtrex",
    "valacyclovir",
    "acyclovir",
    "paxlovid",
    "tamiflu",
    "humira",
    "enbrel",
    "keytruda",
    "dupixent",
    "otezla",
    "accutane",
    "isotretinoin",
    "finasteride",
    "propecia",
    "minoxidil",
    "rogaine",
    "tadalafil",
    "levitra",
    "estradiol",
    "progesterone",
    "clomid",
    "letrozole",
    "mifepristone",
    "misoprostol",
    "amoxicillin",
    "azithromycin",
    "doxycycline",
    "ciprofloxacin",
    "albuterol",
    "ventolin",
    "epipen",
    "epinephrine",
    "flonase",
    "claritin",
    "zyrtec",
    "benadryl",
    "tylenol",
    "advil",
    "motrin",
    "ibuprofen",
    "acetaminophen",
    "paracetamol",
    "aspirin",
    "nyquil",
    "dayquil",
    "sudafed",
    "mucinex",
];

/// A topic (as configured, folded) and its other names. Names in scripts
/// written without spaces (Han, Kana, Hangul, Thai, Lao, Burmese, Khmer) match anywhere in a
/// category (`健康食品`); the others match as whole words, like the
/// configured ones.
const TRANSLATIONS: &[(&str, &[&str])] = &[
    (
        "health",
        &[
            "healthcare",
            "medical",
            "medicine",
            "medication",
            "pharma",
            "pharmaceutical",
            "hospital",
            "medizin",
            "médecine",
            "gesundheitswesen",
            "kesihatan",
            "zdravie",
            "zdravlje",
            "здраве",
            "salut",
            "سلامت",
            "医薬品",
            "医药",
            "医藥",
            "保健",
            "介護",
            "ヘルスケア",
            "의약품",
            "gesundheit",
            "santé",
            "salud",
            "saúde",
            "salute",
            "gezondheid",
            "zdrowie",
            "zdraví",
            "sundhed",
            "hälsa",
            "helse",
            "terveys",
            "egészség",
            "sănătate",
            "sağlık",
            "здоровье",
            "здоров'я",
            "υγεία",
            "健康",
            "医療",
            "医疗",
            "醫療",
            "건강",
            "صحة",
            "בריאות",
            "स्वास्थ्य",
            "สุขภาพ",
            "sức khỏe",
            "kesehatan",
            "kalusugan",
            "prescription",
            "telehealth",
            "telemedicine",
            "sveikata",
            "veselība",
            "tervis",
            "zdravje",
            "здравље",
            "স্বাস্থ্য",
            "صحت",
            "의료",
            "병원",
            "afya",
            // IAB Content Taxonomy 1.0: Health & Fitness, also written with
            // a separator (`IAB-7`, `IAB_7`, `IAB 7`).
            "iab7",
            "iab 7",
            // The eighteenth pass: health, care and the places of care in
            // more languages and inflections.
            "medicina",
            "sanidad",
            "sağlığı",
            "zdrowia",
            "gesundheitsprodukte",
            "bienestar",
            "bien-être",
            "wohlbefinden",
            "klinik",
            "kliniken",
            "klinikum",
            "klinika",
            "kliniek",
            "zahnarzt",
            "zahnärzte",
            "tandarts",
            "huisarts",
            "lekarz",
            "przychodnia",
            "psychotherapie",
            "therapie",
            "thérapie",
            "terapia",
            "terapie",
            "诊所",
            "牙科",
            "医生",
            "医院",
            "歯科",
            "精神科",
            "診療所",
            "病気",
            "病院",
            "치과",
            "한의원",
            "정신건강",
            "中药",
            "中藥",
            "telemed",
            "hlthcare",
            "عيادة",
            "مستشفى",
            "طبي",
            "अस्पताल",
            "डॉक्टर",
            "चिकित्सा",
            // What shops file under health, and what a health category
            // is about (a condition, a pregnancy).
            "wellness",
            "wellbeing",
            "diabetes",
            "fertility",
            "pregnancy",
            "prenatal",
            "maternity",
            "vitamins",
            "supplements",
            // The nineteenth pass: the same in other languages
            // (Japanese, Vietnamese, Arabic adjectives, Korean).
            "サプリメント",
            "サプリ",
            "의약",
            "hiệu thuốc",
            "nhà thuốc",
            "dược phẩm",
            "صحي",
            "صحية",
            "طبي",
            "طبية",
            // Specialties, care, conditions and products that are health
            // data under consumer-health laws (reproductive and sexual
            // health, mental health, addiction, HIV, cancer).
            "oncology",
            "cancer",
            "psychiatry",
            "psychiatric",
            "psychology",
            "psychotherapy",
            "therapy",
            "therapist",
            "counseling",
            "counselling",
            "mental",
            "dentist",
            "dentistry",
            "dental",
            "orthodontics",
            "clinic",
            "clinics",
            "doctor",
            "doctors",
            "physician",
            "cardiology",
            "dermatology",
            "gynecology",
            "gynaecology",
            "obstetrics",
            "urology",
            "neurology",
            "pediatrics",
            "paediatrics",
            "contraception",
            "contraceptive",
            "contraceptives",
            "birth control",
            "abortion",
            "erectile",
            "hiv",
            "aids test",
            "std test",
            "std testing",
            "sti test",
            "sti testing",
            "sexual wellness",
            "depression",
            "anxiety",
            "addiction",
            "rehab",
            "rehabilitation",
            "recovery support",
            "weight loss",
            "insulin",
            "ivf",
            "menopause",
            "cbd",
            "hearing aid",
            "hearing aids",
            // Health in more languages (is, ga, cy, eu, sq, af, be, mk, mt,
            // ta, te, mr, pa, km, ka, hy, kk, az, so, am).
            "heilsa",
            "sláinte",
            "iechyd",
            "osasuna",
            "shëndet",
            "shendet",
            "shëndeti",
            "gesondheid",
            "здароўе",
            "здравје",
            "saħħa",
            "ஆரோக்கியம்",
            "சுகாதாரம்",
            "ఆరోగ్యం",
            "आरोग्य",
            "ਸਿਹਤ",
            "សុខភាព",
            "ჯანმრთელობა",
            "առողջություն",
            "денсаулық",
            "sağlamlıq",
            "caafimaad",
            "ጤና",
            // The eleventh red-team pass: conditions, care and treatments,
            // practitioners, and health in more languages.
            "asthma",
            "alzheimer",
            "alzheimers",
            "dementia",
            "vaccine",
            "vaccines",
            "vaccination",
            "vaccinations",
            "covid",
            "ozempic",
            "wegovy",
            "semaglutide",
            "gender affirming care",
            "genetic testing",
            "hospice",
            "nursing home",
            "nursing homes",
            "dialysis",
            "adhd",
            "autism",
            "obesity",
            "condom",
            "condoms",
            "ovulation",
            "meds",
            // The twelfth pass: sexually transmitted diseases, also by
            // their initials. Not `surgery` or `surgeon`: tree surgeons
            // and surgery games are not health.
            "std",
            "sexually transmitted",
            "dermatologist",
            "psychiatrist",
            "psychologist",
            "cardiologist",
            "oncologist",
            "pediatrician",
            "paediatrician",
            "gynecologist",
            "gynaecologist",
            "urologist",
            "neurologist",
            "optometrist",
            "optometry",
            "médico",
            "médica",
            "clínica",
            "krankenhaus",
            "arzt",
            "ärzte",
            "médecin",
            "szpital",
            "ziekenhuis",
            "больница",
            "врач",
            "лекарства",
            "病院",
            "医院",
            // The thirteenth pass: conditions and the aisles and products
            // shops file them under, drugs by name, misspellings, and
            // conditions in other languages. Not `prep`, `aids`, `plan b`
            // or `sti` alone: meal prep, teaching aids, a plan B and the
            // STI of Subaru's cars are not health.
            "diabetic",
            "diabetics",
            "diabetis",
            "glucose meter",
            "glucose meters",
            "glucose monitor",
            "glucose monitors",
            "blood glucose",
            "blood pressure monitor",
            "pregnant",
            "pregnancy test",
            "pregnancy tests",
            "morning after pill",
            "emergency contraception",
            "plan b one step",
            "antidepressant",
            "antidepressants",
            "viagra",
            "cialis",
            "sildenafil",
            "metformin",
            "adderall",
            "prep hiv",
            "herpes",
            "hepatitis",
            "ptsd",
            "pain relief",
            "cold and flu",
            "cold flu",
            "allergy relief",
            "first aid",
            "hsa eligible",
            "fsa eligible",
            "hsa fsa",
            "ob gyn",
            "obgyn",
            "stds",
            "sti testing",
            "helth",
            "糖尿病",
            "妊娠",
            "당뇨",
            "임신",
            "embarazo",
            "embarazada",
            "schwangerschaft",
            "schwanger",
            "беременность",
            "diabète",
            "diabetes mellitus",
            "दवाई",
            "दवा",
            "obat",
            "cholesterol",
            "migraine",
            "migraines",
            "arthritis",
            "incontinence",
            "hemorrhoid",
            "hemorrhoids",
            "psoriasis",
            "eczema",
            "naloxone",
            "bipolar disorder",
            "eating disorder",
            "eating disorders",
            "chlamydia",
            "epilepsy",
            "thyroid",
            "testosterone",
            "menstrual",
            "hair loss treatment",
            "sleep aid",
            "sleep aids",
            "smoking cessation",
            "plan b pill",
            "grossesse",
            "gravidanza",
            "ilaç",
            "hastane",
            "rumah sakit",
            "bệnh viện",
            "당뇨병",
            "抑郁",
            "处方",
            // The twentieth pass: places of care, practitioners and
            // specialties in more languages (whole words; in scripts
            // written without spaces, anywhere).
            "spital",
            "clinique medicale",
            "dentiste",
            "dentista",
            "dentistas",
            "psicologo",
            "psicologa",
            "psychiatrie",
            "lakare",
            "tandlakare",
            "hospitali",
            "daktari",
            "طبيب",
            "بیمارستان",
            "پزشک",
            "בית חולים",
            "হাসপাতাল",
            "மருத்துவமனை",
            "医師",
            "皮膚科",
            "眼科",
            "産婦人科",
            "心療内科",
            "メンタルヘルス",
            "中医",
            "体检",
            "医保",
            "心理咨询",
            "정신과",
            "피부과",
            "산부인과",
            "헬스케어",
            "โรงพยาบาล",
            "คลินิก",
            "phong kham",
            "bac si",
            "nha khoa",
            "doktor",
            "dokter",
            "orvos",
            "vardcentral",
            "sykehus",
            "sygehus",
            "sjukrahus",
            "क्लिनिक",
            "ہسپتال",
            "ডাক্তার",
            "ఆసుపత్రి",
            "漢方",
            "人間ドック",
            "整形外科",
            "内科",
            "妇科",
            "男科",
            "皮肤科",
            "한약",
            "내과",
            // The fifteenth pass: conditions, care and drugs a shop or a
            // clinic files under health, and health in more languages
            // (kn, ml, gu, si, my, lo, mn, uz, yo, ha, lb, mg, tg, ky, tk,
            // tt, ps, ku, ig, ti, ht, mi, haw, ceb, su, jv, gd, br, la, fy,
            // yi, fa, or, ny, sn, om, zu).
            "urgent care",
            "emergency room",
            "walk in clinic",
            "suicidal",
            "suicide prevention",
            "self harm",
            "crisis line",
            "crisis hotline",
            "planned parenthood",
            "miscarriage",
            "stillbirth",
            "postpartum",
            "postnatal",
            "perimenopause",
            "infertility",
            "egg freezing",
            "sperm bank",
            "sperm donor",
            "surrogacy",
            "endometriosis",
            "pcos",
            "hormone therapy",
            "hormone replacement",
            "gonorrhea",
            "gonorrhoea",
            "syphilis",
            "hpv",
            "genital warts",
            "genital herpes",
            "trichomoniasis",
            "mpox",
            "monkeypox",
            "urinary tract infection",
            "yeast infection",
            "cystitis",
            "overactive bladder",
            "prostate",
            "impotence",
            "premature ejaculation",
            "anorexia",
            "bulimia",
            "binge eating",
            "schizophrenia",
            "psychosis",
            "panic attack",
            "panic attacks",
            "panic disorder",
            "mental illness",
            "sleep apnea",
            "opioid",
            "opioids",
            "opiate",
            "opiates",
            "overdose",
            "alcoholism",
            "alcoholics anonymous",
            "substance abuse",
            "substance use",
            "sobriety",
            "drug detox",
            "alcohol detox",
            "detox center",
            "nicotine patch",
            "nicotine patches",
            "nicotine gum",
            "quit smoking",
            "hypertension",
            "high blood pressure",
            "heart disease",
            "heart failure",
            "kidney disease",
            "liver disease",
            "cirrhosis",
            "tuberculosis",
            "malaria",
            "pneumonia",
            "influenza",
            "flu shot",
            "flu shots",
            "flu vaccine",
            "long covid",
            "lupus",
            "multiple sclerosis",
            "seizure disorder",
            "parkinsons disease",
            "parkinson disease",
            "heartburn relief",
            "insomnia treatment",
            "asthma inhaler",
            "suicide hotline",
            "suicide crisis",
            "celiac",
            "coeliac",
            "crohn",
            "crohns",
            "colitis",
            "acid reflux",
            "osteoporosis",
            "gout",
            "fibromyalgia",
            "rosacea",
            "dermatitis",
            "melanoma",
            "leukemia",
            "leukaemia",
            "lymphoma",
            "tumor",
            "tumour",
            "chemotherapy",
            "radiotherapy",
            "radiation therapy",
            "mastectomy",
            "physical therapy",
            "physiotherapy",
            "occupational therapy",
            "chiropractor",
            "chiropractic",
            "acupuncture",
            "radiology",
            "mri scan",
            "blood test",
            "blood tests",
            "covid test",
            "mammogram",
            "colonoscopy",
            "ophthalmology",
            "ophthalmologist",
            "audiology",
            "audiologist",
            "podiatry",
            "podiatrist",
            "orthopedics",
            "orthopaedics",
            "orthopedist",
            "medicare",
            "medicaid",
            "home health",
            "telepsychiatry",
            "ಆರೋಗ್ಯ",
            "ആരോഗ്യം",
            "આરોગ્ય",
            "සෞඛ්‍යය",
            "සෞඛ්‍ය",
            "ကျန်းမာရေး",
            "ສຸຂະພາບ",
            "эрүүл мэнд",
            "sog'liq",
            "sogʻliq",
            "sogliq",
            "sog'liqni saqlash",
            "sogʻliqni saqlash",
            "salomatlik",
            "ilera",
            "ìlera",
            "lafiya",
            "gesondheet",
            "fahasalamana",
            "sağlamlık",
            "саломатӣ",
            "тандурустӣ",
            "ден соолук",
            "saglyk",
            "сәламәтлек",
            "روغتیا",
            "tenduristî",
            "ahụike",
            "ahuike",
            "ጥዕና",
            "sante",
            "hauora",
            "olakino",
            "panglawas",
            "kaséhatan",
            "kasehatan",
            "kasarasan",
            "slàinte",
            "yec'hed",
            "valetudo",
            "sûnens",
            "געזונט",
            "بهداشت",
            "ସ୍ୱାସ୍ଥ୍ୟ",
            "sức khoẻ",
            "suc khoe",
            "thanzi",
            "hutano",
            "fayyaa",
            "ezempilo",
            // Medicines, in other languages.
            "medikament",
            "medikamente",
            "arzneimittel",
            "geneesmiddelen",
            "medicijnen",
            "läkemedel",
            "legemidler",
            "lægemidler",
            "lääke",
            "lääkkeet",
            "léky",
            "lieky",
            "lekovi",
            "lijekovi",
            "zdravila",
            "gyógyszer",
            "medicamente",
            "лекарство",
            "ліки",
            "φάρμακα",
            "תרופות",
            "دواء",
            "أدوية",
            "دارو",
            "gamot",
            "ubat",
            "dorilar",
            "ilaçlar",
            "दवाइयां",
            "औषध",
            "ওষুধ",
            "மருந்து",
            "మందులు",
            "ಔಷಧ",
            "മരുന്ന്",
            "દવા",
            "ਦਵਾਈ",
            "ඖෂධ",
        ],
    ),
    (
        "pharmacy",
        &[
            // The twentieth pass: pharmacists and prescription drugs.
            "調剤",
            "西药",
            "薬剤師",
            "処方薬",
            "药剂师",
            "เภสัชกรรม",
            "الأدوية",
            "drugstore",
            "drug store",
            "drug",
            "otc",
            "chemist",
            "apotheken",
            "ドラッグストア",
            "pharmacie",
            "apotheke",
            "farmacia",
            "farmácia",
            "apotheek",
            "apteka",
            "lékárna",
            "apotek",
            "gyógyszertár",
            "farmacie",
            "eczane",
            "аптека",
            "φαρμακείο",
            "薬局",
            "药店",
            "药房",
            "藥局",
            "藥房",
            "약국",
            "صيدلية",
            "בית מרקחת",
            "apteekki",
            "aptieka",
            "apteek",
            "vaistinė",
            "ljekarna",
            "apoteka",
            "lekáreň",
            "داروخانه",
            "फार्मेसी",
            "ร้านขายยา",
            "nhà thuốc",
            "drogerie",
            "parapharmacie",
            "parafarmacia",
            // Pharmacy in more languages (ms/id, eu, be, cy, tl, ka, ca, is,
            // ga, sq).
            "farmasi",
            "farmazia",
            "аптэка",
            "fferyllfa",
            "parmasya",
            "botika",
            "აფთიაქი",
            "farmàcia",
            "lyfjabúð",
            "cógaslann",
            "farmaci",
            "farmacija",
            "pharm",
            "pharmacist",
            "pharmacists",
            "apothecary",
            "dispensary",
            "medicament",
            "medicaments",
            "medicamentos",
            // The eighteenth pass: medicines and pharmacy in more forms.
            "medicamento",
            "apothekenbedarf",
            "remédio",
            "remedio",
            "arzneien",
            "heilmittel",
            "geneesmiddel",
            "geneesmiddelen",
            "pharmazie",
            "pharmazeutisch",
            "pharmazeutika",
            "farmacéutica",
            "farmacéutico",
            "farmacéuticos",
            "farmacêutica",
            "farmacêutico",
            "farmaceutico",
            "farmaceutica",
            "farmaceutici",
            "pharmacien",
            "pharmacienne",
            "farmacista",
            "eczaneler",
            "apteki",
            "صيدليات",
            "الصيدليات",
            "药品",
            "藥品",
            "医薬",
            "医薬品",
            "処方箋",
            "处方",
            "ファーマシー",
            // The thirteenth pass: misspellings, prescription sites, and
            // pharmacy in more languages.
            "pharmacey",
            "farmacy",
            "perscription",
            "perscriptions",
            "goodrx",
            "drogaria",
            "remédios",
            "remedios",
            "droguería",
            // The fifteenth pass: pharmacy in more languages (kn, ml, gu,
            // si, my, lo, mn, uz, tg, ky, kk, az, tk, ur, hi, bn, ta, te,
            // mr, pa, ne, sw, yo, ha, zu, af, mg, am, so, yi, sr, sl, eo,
            // km, hy, mt, lb, ps, ku, ig).
            "ಔಷಧಾಲಯ",
            "ഫാർമസി",
            "ફાર્મસી",
            "ෆාමසිය",
            "ဆေးဆိုင်",
            "ຮ້ານຂາຍຢາ",
            "эмийн сан",
            "dorixona",
            "дорухона",
            "дарыкана",
            "дәріхана",
            "aptek",
            "dermanhana",
            "دواخانہ",
            "فارمیسی",
            "dawakhana",
            "davakhana",
            "दवाखाना",
            "दवा की दुकान",
            "ফার্মেসি",
            "ঔষধালয়",
            "மருந்தகம்",
            "ఫార్మసీ",
            "మందుల దుకాణం",
            "औषधालय",
            "ਫਾਰਮੇਸੀ",
            "ਦਵਾਖਾਨਾ",
            "औषधि पसल",
            "duka la dawa",
            "ile elegbogi",
            "kantin magani",
            "ikhemisi",
            "fivarotam panafody",
            "ፋርማሲ",
            "farmashiye",
            "אַפּטייק",
            "апотека",
            "lekarna",
            "apoteko",
            "ឱសថស្ថាន",
            "դեղատուն",
            "spiżerija",
            "apdikt",
            "درملتون",
            "dermanxane",
            "ụlọ ọgwụ",
        ],
    ),
    ("health", MEDICINES),
    ("pharmacy", MEDICINES),
    (
        "religion",
        &[
            "religión",
            "religião",
            "religione",
            "religie",
            "religia",
            "религия",
            "θρησκεία",
            "宗教",
            "종교",
            // IAB Content Taxonomy 1.0: Religion & Spirituality.
            "iab23",
            "iab 23",
        ],
    ),
    (
        "politics",
        &[
            "politik",
            "politique",
            "política",
            "politica",
            "polityka",
            "politiek",
            "политика",
            "πολιτική",
            "政治",
            "정치",
            // IAB Content Taxonomy 1.0: Law, Gov't & Politics > Politics.
            "iab11-4",
            "iab 11 4",
        ],
    ),
];

/// The sensitive categories as the policy matches them: each entry's folded
/// words, indexed by first word so that a category is compared only with
/// the entries that could start at one of its words.
#[derive(Debug, Clone, Default)]
pub struct Sensitive {
    /// Tells this table from every other one built in the process (a
    /// reload builds a new one), for the verdicts remembered per thread
    /// ([`Sensitive::remembered`]).
    id: u64,
    entries: Vec<Vec<String>>,
    /// Every entry's first word, lowercase, with the entries that start
    /// with it (their indexes in `entries`).
    firsts: HashMap<String, Vec<u32>, foldhash::fast::RandomState>,
    /// The one-word entries in a script written without spaces.
    unspaced: Vec<String>,
    /// The one-word entries of six or more ASCII letters, found glued to
    /// other letters (`glued_stem`), looked up by a word's own prefixes
    /// and suffixes of the lengths in `stem_lens` (a URL's long words are
    /// read on every event: comparing each with every stem cost more than
    /// the rest of the event).
    stems: HashSet<Box<[u8]>, foldhash::fast::RandomState>,
    /// The lengths of `stems`, ascending, each once.
    stem_lens: Vec<usize>,
    /// The shapes of `firsts` and of `stems` ([`Shapes`]): most words of a
    /// URL are passed on them, without hashing.
    first_shapes: Shapes,
    stem_shapes: Shapes,
    /// Entries that match only as the whole text ([`WHOLE_VALUES`]).
    wholes: Vec<Vec<String>>,
    /// Stems that match at the start of any word ([`WORD_STARTS`]),
    /// folded, as bytes.
    starts: Vec<Box<[u8]>>,
}

/// A topic (as configured, folded) and the stems of its names in
/// languages that inflect or compound them, matched at the start of a
/// word (the nineteenth red-team pass: `Apoteket`, `apteekista`,
/// `аптеки`, `здоровья`, `Υγείας`, `lékárny`, `gyógyszertárak`,
/// `Gesundheitswelt`, `Apothekenprodukte`). Each stem is long enough, and
/// chosen so, that no common word of another meaning starts with it
/// (`здоровь`, not `здоров`, which starts `здорово`, "great").
const WORD_STARTS: &[(&str, &[&str])] = &[
    (
        "health",
        &[
            "gesundheits",
            "здоровь",
            "здравоохран",
            "медицин",
            "лекарств",
            "υγεί",
            "ιατρικ",
            "zdravotn",
            "terveyd",
            "egészségü",
            "egészségb",
            "sağlığ",
            "sağlık",
            "zdrowia",
            "zdrowiu",
            "medycyn",
            "medicina",
            "medicinsk",
            "medizinisch",
            "medizinprodukt",
            "medikament",
            "arzneimittel",
            "heilmittel",
            "רפוא",
            // The twentieth pass: places of care, practitioners and
            // specialties, as they inflect and compound.
            "клиник",
            "поликлиник",
            "больниц",
            "стоматолог",
            "лікарн",
            "клінік",
            "nemocnic",
            "szpital",
            "ospedal",
            "hopita",
            "odontolog",
            "psiquiatr",
            "ginecolog",
            "oftalmolog",
            "hausarzt",
            "kinderarzt",
            "arztpraxis",
            "krankenkass",
            "sanitatshaus",
            "horgerat",
            "orthopadi",
            "sjukhus",
            "sairaal",
            "terveyskesk",
            "haigla",
            "korhaz",
            "hastane",
            "νοσοκομ",
            "κλινικ",
            "γιατρ",
            "psichiatr",
            "psychiatr",
            "psycholog",
            "ziekenhui",
            "frauenarzt",
            "hautarzt",
            "augenarzt",
            "facharzt",
            "krankenversicher",
            "heilpraktiker",
            "laakar",
            "مستشف",
        ],
    ),
    (
        "pharmacy",
        &[
            "apotek",
            "apothek",
            "apteek",
            "apteeg",
            "aptek",
            "aptec",
            "аптек",
            "аптеч",
            "φαρμακ",
            "lékár",
            "lekár",
            "ljekarn",
            "gyógyszer",
            "gyogyszer",
            "eczane",
            "farmac",
            "pharmaz",
            // Not `pharmac`: `Pharmacycle` is a bicycle brand.
            "pharmaci",
            "pharmacol",
            "pharmaceut",
            "patika",
            "apotik",
            "ilaç",
            "صيدل",
            "מרקחת",
            // With the Hebrew article (`בית המרקחת`).
            "המרקחת",
        ],
    ),
];

/// Which (length, first byte, last byte) shapes a set of byte strings has,
/// folded into one 64-bit mask per length: a string whose shape is not in
/// it is not in the set (the test has no false negatives, so looking a
/// string up only when it passes finds what looking every one up finds).
#[derive(Debug, Clone)]
struct Shapes([u64; SHAPE_LENS]);

/// Strings longer than this are always looked up.
const SHAPE_LENS: usize = 64;

impl Default for Shapes {
    fn default() -> Shapes {
        Shapes([0; SHAPE_LENS])
    }
}

impl Shapes {
    fn bit(s: &[u8]) -> u64 {
        let (f, l) = (s[0] as u32, s[s.len() - 1] as u32);
        1 << ((f.wrapping_mul(31) ^ l.wrapping_mul(7)) & 63)
    }

    fn of<'a>(set: impl Iterator<Item = &'a [u8]>) -> Shapes {
        let mut sh = Shapes::default();
        for s in set.filter(|s| !s.is_empty() && s.len() < SHAPE_LENS) {
            sh.0[s.len()] |= Shapes::bit(s);
        }
        sh
    }

    /// Could `s` be in the set?
    fn may_hold(&self, s: &[u8]) -> bool {
        match self.0.get(s.len()) {
            Some(m) => !s.is_empty() && m & Shapes::bit(s) != 0,
            None => true,
        }
    }
}

/// What a remembered verdict ([`Sensitive::remembered`]) read its text as.
#[derive(Clone, Copy)]
pub enum VerdictOf {
    /// A category's value.
    Category,
    /// A name's value, or a member's name, read by the configured words
    /// ([`configured_only`]): remembered apart from [`VerdictOf::Category`],
    /// since the two tables read the same member names on every event and
    /// would each evict the other's verdict.
    Name,
    /// The path of a page's URL.
    PagePath,
}

/// What may follow a sensitive word glued in front of another one
/// (`healthandbeauty`, `healthpersonalcare`, `pharmacyonline`); a word
/// that merely starts the same (`healthy`, `pharmacycle`) is not one.
const GLUED_AFTER: &[&str] = &[
    "and",
    "personal",
    "care",
    "beauty",
    "shop",
    "store",
    "online",
    "products",
    "plus",
    "club",
    "center",
    "centre",
    "clinic",
    "insurance",
    "supplies",
    "services",
    "hub",
    "direct",
    "express",
    "mart",
    "deals",
    "news",
    "tips",
    "outlet",
    "zone",
    "world",
    "depot",
    "market",
    "supply",
    "guide",
    "info",
    // What a shop files under a department (the nineteenth pass:
    // `pharmacyessentials`, `healthessentials`, `pharmacyneeds`), and the
    // German words compounded after one (`Gesundheitswelt`,
    // `Apothekenbedarf`).
    "essentials",
    "items",
    "needs",
    "goods",
    "basics",
    "picks",
    "finds",
    "favorites",
    "favourites",
    "bestsellers",
    "sale",
    "offers",
    "savings",
    "rewards",
    "corner",
    "section",
    "aisle",
    "brands",
    "collection",
    "catalog",
    "category",
    "department",
    "dept",
    "welt",
    "magazin",
    "produkte",
    "markt",
    "bedarf",
    "artikel",
    "ratgeber",
    "zentrum",
    // An app's screens and a site's templates (`PharmacyActivity`,
    // `HealthScreen`, `pharmacy_page`).
    "activity",
    "screen",
    "page",
    "view",
    "fragment",
    "controller",
    // An app's name (`healthapp`, `mypharmacyapp`,
    // `mentalhealthcompanion`).
    "app",
    "apps",
    "companion",
    "tracker",
    "assistant",
    "finder",
    "connect",
    "portal",
    "coach",
    "buddy",
    "mobile",
    "android",
    "ios",
    "lite",
];

/// Stems that end too many ordinary words to count glued at a word's end
/// (`fundamental`, `instrumental`, `accidental`, `incidental`,
/// `alchemist`); at its start they still do (`dentalcare`,
/// `mentalhealth`).
const NOT_GLUED_AT_END: &[&str] = &["mental", "dental", "chemist"];

/// Is `stem` one of [`NOT_GLUED_AT_END`] or its plural (`fundamentals`)?
fn not_glued_at_end(stem: &[u8]) -> bool {
    NOT_GLUED_AT_END.iter().any(|n| {
        let n = n.as_bytes();
        stem.strip_prefix(n)
            .is_some_and(|rest| matches!(rest, b"" | b"s" | b"es"))
    })
}

/// How many words of [`GLUED_AFTER`] may close a glued word
/// (`healthappstore`).
const GLUED_TAILS: usize = 2;

/// Is `word` (lowercase ASCII) a sensitive `stem` glued to other letters:
/// ending in it (`telehealth`, `mentalhealth`, `parapharmacie`; not the
/// stems of [`NOT_GLUED_AT_END`]), starting with it followed by a word of
/// [`GLUED_AFTER`] (`pharmacyonline`), or either of these, or the stem
/// itself, followed by up to [`GLUED_TAILS`] such words (`healthapp`,
/// `mypharmacyapp`, `mentalhealthcompanion`)? The definition
/// [`Sensitive::glued`] is tested against.
#[cfg(test)]
fn glued_stem(word: &[u8], stem: &[u8]) -> bool {
    glued_stem_tails(word, stem, GLUED_TAILS)
}

fn glued_stem_tails(word: &[u8], stem: &[u8], tails: usize) -> bool {
    let at_end = word.len() > stem.len() && word.ends_with(stem) && !not_glued_at_end(stem);
    let at_start = word.len() > stem.len()
        && word
            .strip_prefix(stem)
            .is_some_and(|rest| GLUED_AFTER.iter().any(|n| rest.starts_with(n.as_bytes())));
    at_end
        || at_start
        || (tails > 0
            && GLUED_AFTER.iter().any(|g| {
                word.len() > g.len() && word.ends_with(g.as_bytes()) && {
                    let rest = &word[..word.len() - g.len()];
                    rest == stem || glued_stem_tails(rest, stem, tails - 1)
                }
            }))
}

impl Sensitive {
    pub fn new(entries: Vec<Vec<String>>) -> Sensitive {
        let entries: Vec<Vec<String>> = entries.into_iter().filter(|e| !e.is_empty()).collect();
        let stems: Vec<&String> = entries
            .iter()
            .filter(|e| {
                e.len() == 1 && e[0].len() >= 6 && e[0].bytes().all(|b| b.is_ascii_lowercase())
            })
            .map(|e| &e[0])
            .collect();
        let mut stem_lens: Vec<usize> = stems.iter().map(|s| s.len()).collect();
        stem_lens.sort_unstable();
        stem_lens.dedup();
        static TABLES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut firsts: HashMap<String, Vec<u32>, foldhash::fast::RandomState> = HashMap::default();
        for (i, e) in entries.iter().enumerate() {
            firsts
                .entry(e[0].to_lowercase())
                .or_default()
                .push(i as u32);
        }
        Sensitive {
            id: TABLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            first_shapes: Shapes::of(firsts.keys().map(|f| f.as_bytes())),
            stem_shapes: Shapes::of(stems.iter().map(|s| s.as_bytes())),
            firsts,
            unspaced: entries
                .iter()
                .filter(|e| e.len() == 1 && unspaced(&e[0]))
                .map(|e| e[0].clone())
                .collect(),
            stems: stems.iter().map(|s| Box::from(s.as_bytes())).collect(),
            stem_lens,
            entries,
            wholes: Vec::new(),
            starts: Vec::new(),
        }
    }

    /// The table with stems that match at the start of a word.
    fn with_starts(mut self, starts: Vec<Box<[u8]>>) -> Sensitive {
        self.starts = starts;
        self
    }

    /// Does one of `words` start with one of the [`WORD_STARTS`] stems
    /// (without ASCII case)?
    fn starts_a_word<'a>(&self, mut words: impl Iterator<Item = &'a str>) -> bool {
        !self.starts.is_empty()
            && words.any(|w| {
                let w = w.as_bytes();
                self.starts
                    .iter()
                    .any(|s| w.len() >= s.len() && w[..s.len()].eq_ignore_ascii_case(s))
            })
    }

    /// The table with entries that match only as the whole text.
    fn with_wholes(mut self, wholes: Vec<Vec<String>>) -> Sensitive {
        self.wholes = wholes;
        self
    }

    /// Are `words` (all of a text's) one of the whole-value entries?
    fn is_whole<'a>(&self, words: impl Iterator<Item = &'a str> + Clone) -> bool {
        if self.wholes.is_empty() {
            return false;
        }
        let n = words.clone().count();
        self.wholes.iter().any(|e| {
            e.len() == n
                && words
                    .clone()
                    .zip(e)
                    .all(|(w, x)| w.eq_ignore_ascii_case(x) || w.to_lowercase() == *x)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `verdict(text)`, remembered per thread for this table and `kind`
    /// (what `verdict` reads `text` as): categories and page paths repeat
    /// event after event (one shop's aisles), and a verdict depends on the
    /// text and the table alone, so a remembered one is the one reading
    /// afresh would give. Bounded as the leak guard's readings are
    /// ([`guard::READING_CACHE_ENTRIES`] texts of at most
    /// [`guard::READING_CACHE_MAX_BYTES`] bytes per thread and kind); a
    /// reload builds another table, whose verdicts are read afresh.
    pub fn remembered(
        &self,
        kind: VerdictOf,
        text: &str,
        verdict: impl FnOnce(&str) -> bool,
    ) -> bool {
        thread_local! {
            static CATEGORIES: guard::StrCache<(u64, bool)> = guard::StrCache::default();
            static PATHS: guard::StrCache<(u64, bool)> = guard::StrCache::default();
            static NAMES: guard::StrCache<(u64, bool)> = guard::StrCache::default();
        }
        let cache = match kind {
            VerdictOf::Category => &CATEGORIES,
            VerdictOf::PagePath => &PATHS,
            VerdictOf::Name => &NAMES,
        };
        guard::cached(
            cache,
            text,
            (guard::READING_CACHE_MAX_BYTES, guard::READING_CACHE_ENTRIES),
            |&(id, _)| id == self.id,
            |t| (self.id, verdict(t)),
            |_| true,
            |&(_, sensitive)| sensitive,
        )
    }

    /// Does one of `words` (of a [`canon::word_form`]) hold an entry of six
    /// or more ASCII letters glued to other letters (`glued_stem`)? Each
    /// word is lowercased once, on the stack, and compared as bytes.
    pub fn glued<'a>(&self, words: impl Iterator<Item = &'a str>) -> bool {
        if self.stems.is_empty() {
            return false;
        }
        let mut buf = [0u8; 64];
        words.into_iter().any(|w| {
            if w.len() <= 6 || w.len() > buf.len() || !w.is_ascii() {
                return false;
            }
            let lower = &mut buf[..w.len()];
            lower.copy_from_slice(w.as_bytes());
            lower.make_ascii_lowercase();
            self.glued_word(lower, GLUED_TAILS)
        })
    }

    /// [`Sensitive::glued`] for one lowercase word: a stem ends the word
    /// or starts it (the word's own suffixes and prefixes of a stem's
    /// length are looked up, shorter than the word), or does either, or
    /// is the rest, once up to `tails` words of [`GLUED_AFTER`] are taken
    /// off its end (`glued_stem`).
    fn glued_word(&self, lower: &[u8], tails: usize) -> bool {
        let found = |s: &[u8]| self.stem_shapes.may_hold(s) && self.stems.contains(s);
        self.stem_lens
            .iter()
            .take_while(|&&n| n < lower.len())
            .any(|&n| {
                let (head, tail) = (&lower[..n], &lower[lower.len() - n..]);
                (found(tail) && !not_glued_at_end(tail))
                    || (found(head) && glued_stem_tails(lower, head, 0))
            })
            || (tails > 0
                && GLUED_AFTER.iter().any(|g| {
                    lower.len() > g.len() && lower.ends_with(g.as_bytes()) && {
                        let rest = &lower[..lower.len() - g.len()];
                        found(rest) || self.glued_word(rest, tails - 1)
                    }
                }))
    }

    /// Does the text `c` (a [`canon::word_form`]) hold the words of an
    /// entry, given its words; `words` yields the same words each time.
    pub fn matches<'a>(&self, c: &str, words: impl Iterator<Item = &'a str> + Clone) -> bool {
        let mut buf = [0u8; 64];
        // Each word that starts an entry, compared with those entries
        // only, from there on.
        let mut at = words.clone();
        let run = loop {
            let from = at.clone();
            let Some(w) = at.next() else { break false };
            // A word of a word_form is lowercase unless it is ASCII.
            let starting = if w.is_ascii() && w.len() <= buf.len() {
                let b = &mut buf[..w.len()];
                b.copy_from_slice(w.as_bytes());
                b.make_ascii_lowercase();
                if self.first_shapes.may_hold(b) {
                    std::str::from_utf8(b).ok().and_then(|l| self.firsts.get(l))
                } else {
                    None
                }
            } else {
                self.firsts.get(&w.to_lowercase())
            };
            if starting.is_some_and(|ids| {
                ids.iter().any(|&i| {
                    let mut here = from.clone();
                    self.entries[i as usize]
                        .iter()
                        .all(|e| here.next().is_some_and(|a| a.eq_ignore_ascii_case(e)))
                })
            }) {
                break true;
            }
        };
        let semitic = !c.is_ascii()
            && c.chars()
                .any(|ch| matches!(ch, '\u{0590}'..='\u{05ff}' | '\u{0600}'..='\u{06ff}'));
        if semitic {
            let stripped = words.clone().map(|w| unprefixed(w).unwrap_or(w));
            if self
                .entries
                .iter()
                .any(|s| super::has_word_run(stripped.clone(), s))
            {
                return true;
            }
        }
        run || self.is_whole(words.clone())
            || self.starts_a_word(words)
            // A name in a script without spaces, inside a longer run of
            // letters (`健康食品`).
            || (!c.is_ascii() && self.unspaced.iter().any(|u| c.contains(u.as_str())))
    }
}

/// The configured categories' folded words, followed by the other names of
/// the topics among them (and their names that count only as the whole
/// value, [`WHOLE_VALUES`]).
pub fn expand(configured: &[String], fold: impl Fn(&str) -> String) -> Sensitive {
    let wholes = whole_words(configured, &fold);
    let starts = word_starts(configured, &fold);
    Sensitive::new(expand_words(configured, fold, true))
        .with_wholes(wholes)
        .with_starts(starts)
}

/// A name as written, capitalized and in capitals: lookalike letters are
/// mapped before case is folded ([`canon::word_form`]), so each case may
/// fold to other letters.
fn case_forms(n: &str) -> [String; 3] {
    let mut chars = n.chars();
    let capitalized: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    [n.to_string(), capitalized, n.to_uppercase()]
}

/// The [`WORD_STARTS`] stems of the configured topics, folded.
fn word_starts(configured: &[String], fold: &impl Fn(&str) -> String) -> Vec<Box<[u8]>> {
    let mut out: Vec<Box<[u8]>> = Vec::new();
    for c in configured {
        let topic = fold(c);
        for (_, stems) in WORD_STARTS.iter().filter(|(t, _)| *t == topic) {
            for st in *stems {
                // A capital `Υ` reads as `y`, a small `υ` as `u`.
                for form in case_forms(st) {
                    let f: Box<[u8]> = fold(&form).into_bytes().into_boxed_slice();
                    if !f.is_empty() && !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
        }
    }
    out
}

/// The [`WHOLE_VALUES`] of the configured topics, folded as the table's
/// entries are (as written and in capitals: lookalikes are mapped before
/// case), lowercase.
fn whole_words(configured: &[String], fold: &impl Fn(&str) -> String) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for c in configured {
        let topic = fold(c);
        for (_, names) in WHOLE_VALUES.iter().filter(|(t, _)| *t == topic) {
            for n in *names {
                for form in [n.to_string(), n.to_uppercase()] {
                    let w: Vec<String> = fold(&form)
                        .split(' ')
                        .filter(|w| !w.is_empty())
                        .map(str::to_lowercase)
                        .collect();
                    if !w.is_empty() && !out.contains(&w) {
                        out.push(w);
                    }
                }
            }
        }
    }
    out
}

/// The configured categories' folded words and their plurals only, without
/// the other names of the table: how names are read ([`name_like`]: a
/// product called "Drugstore Cowboy" or "Salute to Service" is not a
/// category, a site called "Pharmacy Direct" names one).
pub fn configured_only(configured: &[String], fold: impl Fn(&str) -> String) -> Sensitive {
    Sensitive::new(expand_words(configured, fold, false))
}

fn expand_words(
    configured: &[String],
    fold: impl Fn(&str) -> String,
    translations: bool,
) -> Vec<Vec<String>> {
    let words = |s: &str| -> Vec<String> {
        fold(s)
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut out: Vec<Vec<String>> = configured.iter().map(|c| words(c)).collect();
    for c in configured.iter().filter(|_| translations) {
        let folded = fold(c);
        for (_, names) in TRANSLATIONS.iter().filter(|(t, _)| *t == folded) {
            for n in *names {
                // A capital `З` reads as `3`.
                for form in case_forms(n) {
                    let w = words(&form);
                    if !w.is_empty() && !out.contains(&w) {
                        out.push(w);
                    }
                }
            }
        }
    }
    // Plurals of words in Latin letters: the last word with `s`, `es`, and
    // `y` as `ies` (`Pharmacies`, `Drug Stores`, `Farmacias`).
    let mut plurals = Vec::new();
    for e in &out {
        let Some(last) = e.last() else { continue };
        if !last.bytes().all(|b| b.is_ascii_lowercase()) || last.len() < 3 {
            continue;
        }
        let mut forms = vec![format!("{last}s"), format!("{last}es")];
        if let Some(stem) = last.strip_suffix('y') {
            forms.push(format!("{stem}ies"));
        }
        for f in forms {
            let mut p = e.clone();
            *p.last_mut().expect("not empty") = f;
            if !out.contains(&p) && !plurals.contains(&p) {
                plurals.push(p);
            }
        }
    }
    out.extend(plurals);
    out
}

/// The word without a prefix its language glues to it: Arabic `ال` (the,
/// also after `و` `ب` `ف` `ك`, and `لل`), Hebrew one-letter prefixes
/// (`ו` `ה` `ב` `ל` `מ` `ש` `כ`). `None` when there is none.
///
/// `w` is a folded word, in which some letters of these scripts read as
/// their Latin lookalikes (`ا` and `ו` as `i`): the prefixes are folded the
/// same way.
fn unprefixed(w: &str) -> Option<&str> {
    static PREFIXES: OnceLock<Vec<String>> = OnceLock::new();
    let prefixes = PREFIXES.get_or_init(|| {
        [
            "وال", "بال", "فال", "كال", "لل", "ال", "ו", "ה", "ב", "ל", "מ", "ש", "כ",
        ]
        .iter()
        .map(|p| super::fold_category(p))
        .collect()
    });
    prefixes.iter().find_map(|p| {
        w.strip_prefix(p.as_str()).filter(|rest| {
            rest.chars().count() >= 2
                && rest
                    .chars()
                    .next()
                    .is_some_and(|c| matches!(c, '\u{0590}'..='\u{05ff}' | '\u{0600}'..='\u{06ff}'))
        })
    })
}

/// Is `word` in a script written without spaces between words, so that it
/// is matched inside a longer run of letters?
pub fn unspaced(word: &str) -> bool {
    let spaceless = |c: char| {
        matches!(c,
            '\u{3040}'..='\u{30ff}'   // Hiragana, Katakana
            | '\u{3400}'..='\u{4dbf}' // CJK extension A
            | '\u{4e00}'..='\u{9fff}' // CJK unified ideographs
            | '\u{f900}'..='\u{faff}' // CJK compatibility ideographs
            | '\u{ac00}'..='\u{d7af}' // Hangul syllables
            // Hangul jamo: a syllable in canonical decomposition, as
            // `canon::word_form` leaves it.
            | '\u{1100}'..='\u{11ff}'
            | '\u{3130}'..='\u{318f}'
            | '\u{a960}'..='\u{a97f}'
            | '\u{d7b0}'..='\u{d7ff}'
            | '\u{0e00}'..='\u{0e7f}' // Thai
            | '\u{0e80}'..='\u{0eff}' // Lao
            | '\u{1000}'..='\u{109f}' // Myanmar
            | '\u{1780}'..='\u{17ff}' // Khmer
        )
    };
    // A Hangul vowel drawn like a Latin letter (`ᅵ` of `신`) reads as that
    // letter in `canon::word_form`: ASCII letters may stand among the rest.
    word.chars()
        .all(|c| spaceless(c) || c.is_ascii_alphanumeric())
        && word.chars().any(spaceless)
}

/// The longest member name the category tables read, in letters and
/// digits.
const NAME_MAX: usize = 48;

/// A member name as the category tables read it: its letters and digits,
/// lowercase ([`canon::fold_alnum`]), after [`canon::word_form`] for a name
/// outside ASCII (`ｃａｔｅｇｏｒｉｅｓ`); `None` when it is longer than any
/// name they hold or holds letters outside ASCII. Folded once per member,
/// for both [`category_name`] and [`taxonomy`].
fn folded_name(key: &str) -> Option<canon::FoldedName<NAME_MAX>> {
    if key.is_ascii() {
        return canon::fold_alnum(key);
    }
    let form = canon::word_form(key);
    if !form.is_ascii() {
        return None;
    }
    canon::fold_alnum(&form)
}

/// Does a member, by its [`folded_name`], name a category in all but name:
/// `subcategory`, `categories`, `iab_categories`, `topic`, `genre`,
/// `taxonomy`, OpenRTB's `cat`, `sectioncat`, `pagecat`?
fn category_name(name: &[u8]) -> bool {
    let n = name.len();
    // One pass, each position looked at only for the words that start with
    // its letter (this runs for every member of context, app, ad and site).
    let at = |i: usize, w: &[u8]| name[i..].starts_with(w);
    let word_inside = (0..n).any(|i| match name[i] {
        b'c' => at(i, b"categor") || at(i, b"collection"),
        // German, Nordic, Slavic and French names of a category
        // (`kategorie`, `kategori`, `kategoria`, `rubrik`, `rubrique`).
        b'k' if at(i, b"kategor") => true,
        b'r' => at(i, b"rubri"),
        b't' => at(i, b"topic") || at(i, b"taxonom"),
        b'g' => at(i, b"genre"),
        b'v' => at(i, b"vertical"),
        b'd' => at(i, b"department"),
        b's' => at(i, b"section"),
        b'b' => at(i, b"breadcrumb"),
        b'k' => at(i, b"keyword"),
        b'h' => at(i, b"hashtag"),
        b'a' => at(i, b"aisle") || at(i, b"affinit"),
        b'i' => at(i, b"interest") || at(i, b"industr"),
        b'p' => at(i, b"producttype"),
        _ => false,
    });
    word_inside
        || name == b"iab"
        || name == b"dept"
        // Short names of the same (`classification`, `catname`,
        // `cat_l1`, `crumbs`, `kw`).
        || matches!(
            name,
            b"classification"
                | b"classifications"
                | b"class"
                | b"catname"
                | b"catid"
                | b"cat"
                | b"cats"
                | b"crumb"
                | b"crumbs"
                | b"kw"
                | b"kws"
                | b"catpath"
                | b"categorypath"
        )
        // What a place or a shop is (OpenStreetMap's `amenity`, `shop` and
        // `healthcare` tags, a store locator's `store_type`).
        || matches!(
            name,
            b"amenity"
                | b"shop"
                | b"healthcare"
                | b"storetype"
                | b"shoptype"
                | b"businesstype"
                | b"venuetype"
                | b"placetype"
                | b"placetypes"
                | b"locationtype"
                | b"offertype"
                | b"productline"
                | b"catalog"
                | b"catalogue"
        )
        || (name.starts_with(b"cat") && name.len() <= 5 && name[3..].iter().all(|b| b.is_ascii_alphanumeric()) && name[3..].iter().any(u8::is_ascii_digit))
        || (name.starts_with(b"catl") && name.len() <= 6 && name[4..].iter().all(u8::is_ascii_digit))
        || matches!(
            name,
            b"tag" | b"tags" | b"store" | b"storename" | b"shelf" | b"channel"
        )
        || matches!(
            name,
            b"pagetitle"
                | b"pagename"
                | b"screenname"
                | b"screenclass"
                | b"screen"
                | b"activity"
                | b"viewcontroller"
        )

        // What a page, an ad or a business is about under other names
        // (GA4's `content_group`, `industry`, `theme`, a `condition`).
        || matches!(
            name,
            b"contentgroup"
                | b"contentgroups"
                | b"contentgrouping"
                | b"industry"
                | b"industries"
                | b"sector"
                | b"niche"
                | b"theme"
                | b"themes"
                | b"intent"
                | b"service"
                | b"services"
                | b"specialty"
                | b"speciality"
                | b"specialties"
                | b"condition"
                | b"conditions"
                | b"slug"
                | b"handle"
                | b"collectionhandle"
        )
        // What an ad or an audience is about (`ad.labels`, `interests`).
        || matches!(
            name,
            b"label"
                | b"labels"
                | b"interest"
                | b"interests"
                | b"segment"
                | b"segments"
                | b"audience"
                | b"audiences"
                | b"contenttype"
                | b"pagetype"
                | b"subject"
        )
        // The nineteenth red-team pass: what an ad platform, a product
        // feed or an audience tool calls a category (Google Merchant
        // Center's `custom_label_0`-`4` and `feed_label`, `item_group_id`,
        // an audience's or a retargeting list's name, `targeting`,
        // `persona`, a short `seg`), what a clinical record calls one
        // (`diagnosis`, `dx`, `indication`, `therapy_area`, `drug`,
        // `med`; the twentieth pass: `symptom`, `treatment`, `procedure`,
        // `visit_reason`, `chief_complaint`, `care_type`, `claim_type`,
        // `rx_name`, `refill`), a program or plan someone is on, and short names of a
        // category (`categ`, `cate`, `ctg`, `kat`).
        || name.starts_with(b"customlabel")
        || matches!(
            name,
            b"feedlabel"
                | b"itemgroup"
                | b"itemgroupid"
                | b"audiencename"
                | b"audiencelist"
                | b"targeting"
                | b"targetingcriteria"
                | b"retargeting"
                | b"retargetinglist"
                | b"remarketinglist"
                | b"lookalike"
                | b"lookalikeseed"
                | b"persona"
                | b"seg"
                | b"segname"
                | b"segmentname"
                | b"diagnosis"
                | b"diagnoses"
                | b"dx"
                | b"icd"
                | b"icd10"
                | b"indication"
                | b"therapyarea"
                | b"therapeuticarea"
                | b"drug"
                | b"drugname"
                | b"med"
                | b"medname"
                | b"medication"
                | b"medicine"
                | b"prescription"
                | b"rxname"
                | b"refill"
                | b"symptom"
                | b"treatment"
                | b"procedure"
                | b"visitreason"
                | b"reasonforvisit"
                | b"chiefcomplaint"
                | b"ailment"
                | b"illness"
                | b"disease"
                | b"allergy"
                | b"allergies"
                | b"caretype"
                | b"testtype"
                | b"appointmenttype"
                | b"providertype"
                | b"claimtype"
                | b"program"
                | b"programme"
                | b"programname"
                | b"plan"
                | b"planname"
                | b"categ"
                | b"cate"
                | b"ctg"
                | b"ctgy"
                | b"kat"
        )
        // OpenRTB's lists of what a publisher blocks are not what it is.
        || (name.ends_with(b"cat") || name.ends_with(b"cats")) && !matches!(name, b"bcat" | b"bcats")
}

/// The singular forms a plural member name may have (`depts` as `dept`,
/// `shelves` as `shelf`, `stores` as `store`, `categories`), written into
/// `buf`: up to two, by the endings English plurals take.
fn singulars<'b>(name: &[u8], buf: &'b mut [u8; NAME_MAX]) -> [Option<&'b [u8]>; 2] {
    let n = name.len();
    if n < 3 || name[n - 1] != b's' || n > NAME_MAX {
        return [None, None];
    }
    buf[..n].copy_from_slice(name);
    // `-ies` as `-y`, `-ves` as `-f`; otherwise without `-s` (and, after
    // that, without `-es`).
    let (first, second) = if name.ends_with(b"ies") {
        buf[n - 3] = b'y';
        (n - 2, None)
    } else if name.ends_with(b"ves") {
        buf[n - 3] = b'f';
        (n - 2, None)
    } else if name.ends_with(b"es") {
        (n - 1, Some(n - 2))
    } else {
        (n - 1, None)
    };
    let buf: &'b [u8] = buf;
    [Some(&buf[..first]), second.map(|m| &buf[..m])]
}

/// A name, or one of its [`singulars`], passes `test`.
fn name_or_singular(name: &[u8], test: impl Fn(&[u8]) -> bool) -> bool {
    if test(name) {
        return true;
    }
    let mut buf = [0u8; NAME_MAX];
    let found = singulars(name, &mut buf).into_iter().flatten().any(test);
    found
}

/// A member name outside ASCII that says "category" in another script
/// (`カテゴリ`, `分类`, `카테고리`, `категория`, `κατηγορία`, `فئة`), read
/// after [`canon::word_form`], lowercase.
fn category_name_elsewhere(key: &str) -> bool {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        [
            "カテゴリ",
            "カテゴリー",
            "分类",
            "分類",
            "类别",
            "類別",
            "类目",
            "카테고리",
            "분류",
            "категория",
            "категории",
            "рубрика",
            "κατηγορία",
            "κατηγορια",
            "فئة",
            "تصنيف",
            "קטגוריה",
            "श्रेणी",
            "หมวดหมู่",
        ]
        .iter()
        .map(|w| canon::word_form(w).into_owned())
        .collect()
    });
    let form = canon::word_form(key);
    let name = form.trim();
    names.iter().any(|w| name.contains(w.as_str()))
}

/// A member that names a page, a site, an app, a brand, a shop or a
/// placement (`page.title`, `site.name`, `app.name`, `brand`, `merchant`,
/// `placement`): read by the configured categories' own words only
/// ([`configured_only`]), since a product or a brand may be called anything.
fn name_like(name: &[u8]) -> bool {
    matches!(
        name,
        b"title"
            | b"name"
            | b"appname"
            | b"sitename"
            | b"brand"
            | b"brandname"
            | b"merchant"
            | b"merchantname"
            | b"placement"
            // Free text about the page or the product.
            | b"documenttitle"
            | b"headline"
            | b"description"
            | b"productname"
            | b"itemname"
            | b"pagedescription"
            // GA4's item and promotion fields, and what was searched for
            // (never forwarded, but a search for a pharmacy is a health
            // visit).
            | b"itembrand"
            | b"itemlistname"
            | b"promotionname"
            | b"creativename"
            | b"desc"
            // Campaign parameters say what the visit came for, in free
            // text (`tree surgeon near me`).
            | b"utmcampaign"
            | b"utmcontent"
            | b"utmterm"
            | b"campaigncontent"
            | b"campaignterm"
            // Where on the site, and what was tried there (the thirteenth
            // pass: `list_name: "pharmacy-best-sellers"`, `zone`,
            // `experiment: "pharmacy_upsell_v2"`).
            | b"zone"
            | b"experiment"
            | b"experimentname"
            | b"variant"
            | b"variantname"
            // The names an ad platform gives its campaigns, ad groups, ad
            // sets and line items (the nineteenth pass:
            // `campaign_name: "Pharmacy-Q4"`, `ad_group_name`).
            | b"campaignname"
            | b"adgroup"
            | b"adgroupname"
            | b"adset"
            | b"adsetname"
            | b"adname"
            | b"lineitem"
            | b"lineitemname"
            | b"insertionorder"
            | b"insertionordername"
    ) || name.ends_with(b"title")
        || name.ends_with(b"description")
        || name.ends_with(b"listname")
}

/// How deep category-like members are looked for in nested objects and
/// arrays: as deep as the signals are read, beyond which an event is
/// unreadable (`signals::OtherSignal::TooDeep`).
const MAX_DEPTH: usize = crate::signals::MAX_DEPTH;

/// The strings of the category-like members ([`category_name`]) of
/// `context`, `app`, `ad` and OpenRTB's top-level `site`, other than
/// `context.category` (which the SPEC names), at any depth up to
/// [`MAX_DEPTH`] (`context.content.cat`): each string of the value, also
/// inside arrays and objects (`categories: [{"name": "Health"}]`). `each`
/// answers whether one is sensitive; the first yes ends the walk.
pub fn other_categories(
    ev: &Event<'_>,
    each: impl FnMut(&str) -> bool,
    each_name: impl FnMut(&str) -> bool,
    each_path: impl FnMut(&str) -> bool,
) -> bool {
    let r = &mut Readers {
        category: each,
        name: each_name,
        page: each_path,
    };
    for (name, raw) in &ev.top.members {
        // Every top-level block but the person's and the consent: `app`,
        // `ad`, OpenRTB's `site`, GA4's `items` and `ecommerce`, Segment's
        // `properties`, a `products` list, and the shopping blocks that are
        // never forwarded (`view.category` still says what was shopped).
        if matches!(name.as_ref(), "user" | "consent" | "context") {
            continue;
        }
        let found = match ev.nested(*raw) {
            // Top-level objects: the event's parse read them already.
            Some(o) => object(&o.members, r, 0),
            None => {
                kind_of(*raw) == JsonKind::Array && member(NameFacts::remembered(name), *raw, r, 0)
            }
        };
        if found {
            return true;
        }
    }
    ev.context.iter().any(|c| {
        let iab = iab_taxonomy(&c.members);
        c.members
            .iter()
            .filter(|(k, _)| k != "category")
            .any(|(k, v)| object_member(k, *v, iab, r, 0))
    })
}

/// What the walk asks of a category's value, of a name's ([`name_like`])
/// and of a page's address.
struct Readers<C, N, P> {
    category: C,
    name: N,
    page: P,
}

/// The [`Readers`] the walk passes down.
type R<'r, C, N, P> = &'r mut Readers<C, N, P>;

/// The members of one object ([`object_member`]).
fn object<C: FnMut(&str) -> bool, N: FnMut(&str) -> bool, P: FnMut(&str) -> bool>(
    members: &[(Cow<'_, str>, json::Raw<'_>)],
    r: R<'_, C, N, P>,
    depth: usize,
) -> bool {
    let iab = iab_taxonomy(members);
    members
        .iter()
        .any(|(k, v)| object_member(k, *v, iab, r, depth))
}

/// One member of an object, its name folded once: the address of a page
/// when its name says it holds one ([`page_address`]), its codes when its
/// name says which taxonomy they are of ([`taxonomy`]; `iab` when the
/// object's `cattax` names IAB's content taxonomy), then the member itself
/// ([`member`]).
fn object_member<C: FnMut(&str) -> bool, N: FnMut(&str) -> bool, P: FnMut(&str) -> bool>(
    key: &str,
    v: json::Raw<'_>,
    iab: bool,
    r: R<'_, C, N, P>,
    depth: usize,
) -> bool {
    let name = NameFacts::remembered(key);
    if let Some(tax) = name.taxonomy[usize::from(iab)] {
        if coded(tax, v, &mut r.category) {
            return true;
        }
    }
    // A flag named as a configured category (`"meta": {"pharmacy":
    // true}`, also `1` or `"yes"`) says the page or ad is in it; read by
    // the configured words only, as names are.
    // (By any name of the table only when the name is words: a digest or
    // a code as a key, `57d6c20b…`, is no topic.)
    //
    // The nineteenth red-team pass: a member named for a condition holds
    // a fact about it whatever its value says (`"hiv_status":
    // "positive"`, `"diabetes": "type-2"`, `"pregnancy_week": 12`,
    // `"pharmacy": "oui"`), so only a value that says "no" (false, 0,
    // `"no"`, `""`, null; [`crate::signals::flag`]) leaves it out.
    //
    // A name without digits is read by the whole table, which holds the
    // configured words the names' table has (one lookup per member, on
    // every event); one with digits by the configured words alone.
    // The name first: its verdict is remembered, and nearly every name
    // reads as no condition, so the value is rarely looked at.
    let named = if key.len() > NAME_MAX || key.bytes().any(|b| b.is_ascii_digit()) {
        (r.name)(key)
    } else {
        (r.category)(key)
    };
    if named && !says_no(v) {
        return true;
    }
    // A schema.org type (`"@type": "MedicalCondition"`, `"Drug"`,
    // `"Pharmacy"`): its words, split at the capitals, read as a category.
    if key == "@type"
        && string_or_strings(v)
            .iter()
            .any(|t| (r.category)(super::unglued(t, false).as_deref().unwrap_or(t)))
    {
        return true;
    }
    // One address, or a list of them (OpenRTB's `adomain`); and, whatever
    // the member is called, a value written as an absolute URL
    // (`"dest": "https://shop.example/pharmacy"`, the nineteenth pass).
    if name.page_address || holds_url(v) {
        for t in &string_or_strings(v) {
            if address_words(t).is_some_and(|text| (r.page)(text)) {
                return true;
            }
        }
    }
    member(name, v, r, depth)
}

/// Does a flag's value say "no" (false, 0, `"no"`, `"off"`, an empty
/// string, null: [`crate::signals::flag`] reads it false)? Objects and
/// arrays do not: under a condition's name they are about it.
fn says_no(v: json::Raw<'_>) -> bool {
    match kind_of(v) {
        // Only a short string can be one of the words; a long one (a
        // page's address, a user agent) is not decoded to find out.
        JsonKind::String if v.get().len() > MAX_NO_WORD => false,
        JsonKind::Object | JsonKind::Array => false,
        _ => crate::signals::flag(v) == Ok(false),
    }
}

/// The longest JSON string (quotes and escapes included) [`says_no`]
/// reads: `"false"` written in `\u` escapes fits.
const MAX_NO_WORD: usize = 40;

/// Is `v` a string, or a list of strings, with `://` near its start (an
/// absolute URL: `https://`, `android-app://`)? Read on the raw JSON
/// text, so a value without one costs a search of its bytes.
fn holds_url(v: json::Raw<'_>) -> bool {
    let t = v.get().as_bytes();
    matches!(t.first(), Some(b'"') | Some(b'['))
        && memchr::memmem::find(t, b"://").is_some_and(|i| {
            // The scheme ends within a few characters of the string's
            // start (a list's first string, or any after a `"`).
            t[..i].iter().rev().take(24).any(|&b| b == b'"')
        })
}

/// A string, or the strings of a list (other items left out).
fn string_or_strings(v: json::Raw<'_>) -> Vec<Cow<'_, str>> {
    match kind_of(v) {
        JsonKind::String => as_str(v).into_iter().collect(),
        JsonKind::Array => json::array_items(v)
            .unwrap_or_default()
            .into_iter()
            .filter_map(as_str)
            .collect(),
        _ => Vec::new(),
    }
}

/// What the walk reads in a member's name ([`folded_name`]): a function of
/// the name alone.
#[derive(Clone, Copy, Default)]
struct NameFacts {
    /// [`taxonomy`], for an object whose `cattax` is not IAB's and is.
    taxonomy: [Option<Taxonomy>; 2],
    page_address: bool,
    category_name: bool,
    name_like: bool,
}

impl NameFacts {
    fn of(key: &str) -> NameFacts {
        match folded_name(key) {
            Some(n) => NameFacts {
                taxonomy: [taxonomy(&n, false), taxonomy(&n, true)],
                page_address: name_or_singular(&n, page_address),
                category_name: name_or_singular(&n, category_name),
                name_like: name_or_singular(&n, name_like),
            },
            None => NameFacts {
                category_name: category_name_elsewhere(key),
                ..NameFacts::default()
            },
        }
    }

    /// [`NameFacts::of`], remembered per thread: the members of `context`,
    /// `ad` and `app` are nearly all named as the events before them were,
    /// and each name was folded and looked up in four tables for every
    /// event.
    fn remembered(key: &str) -> NameFacts {
        thread_local! {
            static NAMES: guard::StrCache<NameFacts> = guard::StrCache::default();
        }
        guard::cached(
            &NAMES,
            key,
            (guard::NAME_CACHE_MAX_BYTES, guard::NAME_CACHE_ENTRIES),
            |_| true,
            NameFacts::of,
            |_| true,
            |f| *f,
        )
    }
}

/// Does a member so named ([`folded_name`]) hold the address of a page, a
/// site or a referrer (`page_url`, Segment's `page.url` / `page.path`, GA4's
/// `page_location`, OpenRTB's `site.page` / `site.domain`)? Its host and
/// path name the aisle (`pharmacy.shop.example`, `/pharmacy/insulin-pens`).
fn page_address(name: &[u8]) -> bool {
    matches!(
        name,
        b"url"
            | b"uri"
            | b"href"
            | b"page"
            | b"path"
            | b"pageurl"
            | b"pageuri"
            | b"pagepath"
            | b"pagelocation"
            | b"location"
            | b"documentlocation"
            | b"canonicalurl"
            | b"referrer"
            | b"referer"
            | b"pagereferrer"
            | b"referrerurl"
            | b"domain"
            | b"host"
            | b"hostname"
            | b"sitedomain"
            | b"link"
            // GA4's Measurement Protocol (`dl`, `dr`), app links and
            // landing pages, Segment's `page.search`.
            | b"dl"
            | b"dr"
            | b"search"
            | b"landingpage"
            | b"deeplink"
            // A single-page app's route and the parts of an address kept
            // apart, and OpenRTB's advertiser domains.
            | b"pathname"
            | b"route"
            | b"hash"
            | b"fragment"
            | b"querystring"
            | b"adomain"
            | b"adomains"
            // An app's reverse-DNS name names it as a domain does
            // (`com.example.pharmacy`).
            | b"bundle"
            | b"bundleid"
            | b"appbundle"
            | b"appid"
            | b"packagename"
            | b"appbundleid"
            // Where an ad sends its click, under the names ad platforms
            // and ad servers give it (the nineteenth pass: `dest`,
            // `redirect`, `lp`, `website`, `tracking_template`).
            | b"dest"
            | b"destination"
            | b"redirect"
            | b"redirectto"
            | b"lp"
            | b"landing"
            | b"website"
            | b"site"
            | b"clickthrough"
            | b"clickthru"
            | b"trackingtemplate"
            | b"finalurlsuffix"
            | b"target"
            | b"goto"
    ) || name.ends_with(b"url")
        || name.ends_with(b"uri")
        || name.ends_with(b"link")
        || name.ends_with(b"href")
        || name.ends_with(b"domain")
}

/// Categories written as codes of a numbered taxonomy, read where the
/// member's name says which one, as the topic they stand for (then matched
/// as that word: sensitive only when the topic is configured):
/// - a card's merchant category code (`mcc`, `merchant_category_code`)
///   and the SIC code (`sic`): 5912 drug stores and pharmacies, 5122
///   drugs, 2833–2836 drug manufacturing (SIC), 4119 ambulances, 5047
///   medical equipment, 5975/5976 hearing aids and orthopedic goods,
///   8000–8099 medical services;
/// - Google's product taxonomy (`google_product_category`): 491 Health
///   Care, 508 First Aid, 518 Medicine & Drugs (the other codes under it
///   are not listed: read the name instead);
/// - the App Store's genre ids (`genreId`, `primaryGenreId`): 6013 Health &
///   Fitness, 6020 Medical;
/// - NAICS (`naics`): 4561 (2022) and 4461 (2017) health and personal care
///   retailers, 62 health care, 32541 pharmaceutical manufacturing, 33911
///   medical equipment, 524114 health insurance;
/// - IAB Content Taxonomy 2.x/3.x ids in OpenRTB's `cat` / `sectioncat` /
///   `pagecat` when the object's `cattax` says so (2–7): 286–323 Medical
///   Health, the health topics of Healthy Living (224 Children's, 228
///   Men's, 230 Senior Health, 231 Weight Loss, 232–237 Wellness and its
///   therapies, 238 Women's Health) and 399 Health Insurance.
#[derive(Clone, Copy)]
enum Taxonomy {
    MerchantCategory,
    GoogleProduct,
    AppStoreGenre,
    Naics,
    IabContent,
}

/// The taxonomy a member's [`folded_name`] says its codes are of; OpenRTB's
/// category members only when `iab`, the object's `cattax`, says so.
fn taxonomy(name: &[u8], iab: bool) -> Option<Taxonomy> {
    Some(match name {
        // A card's merchant category code, and the SIC code it follows
        // (5912 drug stores, 80xx health services in both).
        b"mcc"
        | b"mcccode"
        | b"merchantcategorycode"
        | b"merchantcategory"
        | b"sic"
        | b"siccode" => Taxonomy::MerchantCategory,
        b"googleproductcategory" | b"googleproductcategoryid" => Taxonomy::GoogleProduct,
        b"genreid" | b"primarygenreid" | b"genreids" => Taxonomy::AppStoreGenre,
        b"naics" | b"naicscode" => Taxonomy::Naics,
        b"cat" | b"sectioncat" | b"pagecat" | b"cats" if iab => Taxonomy::IabContent,
        _ => return None,
    })
}

impl Taxonomy {
    /// The topic a code of this taxonomy stands for, when it is one of the
    /// sensitive ones listed on [`Taxonomy`].
    fn topic(self, code: &str) -> Option<&'static str> {
        let n: u32 = code.parse().ok()?;
        match self {
            Taxonomy::MerchantCategory => match n {
                5912 | 5122 | 2833..=2836 => Some("pharmacy"),
                4119 | 5047 | 5975 | 5976 | 8000..=8099 => Some("health"),
                _ => None,
            },
            Taxonomy::GoogleProduct => matches!(n, 491 | 508 | 518).then_some("health"),
            Taxonomy::AppStoreGenre => matches!(n, 6013 | 6020).then_some("health"),
            Taxonomy::Naics => {
                let health = ["4561", "4461", "62", "32541", "33911", "524114"];
                health
                    .iter()
                    .any(|p| code.starts_with(p))
                    .then_some("health")
            }
            Taxonomy::IabContent => {
                matches!(n, 224 | 228 | 230..=238 | 286..=323 | 399).then_some("health")
            }
        }
    }
}

/// A code as written: a JSON number's text or a string's, trimmed.
fn code_text(v: json::Raw<'_>) -> Option<Cow<'_, str>> {
    match kind_of(v) {
        JsonKind::Number => Some(Cow::Borrowed(v.get())),
        JsonKind::String => as_str(v).map(|s| match s {
            Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
            Cow::Owned(o) => Cow::Owned(o.trim().to_string()),
        }),
        _ => None,
    }
}

/// Does the object's `cattax` name IAB's content taxonomy 2.x or 3.x (2–7)?
fn iab_taxonomy(members: &[(Cow<'_, str>, json::Raw<'_>)]) -> bool {
    members.iter().any(|(k, v)| {
        k == "cattax"
            && code_text(*v)
                .is_some_and(|t| matches!(t.as_ref(), "2" | "3" | "4" | "5" | "6" | "7"))
    })
}

/// The codes of a taxonomy member (one, or an array of them), each given
/// to `each` as the topic it stands for (then matched as that word:
/// sensitive only when the topic is configured).
fn coded(tax: Taxonomy, v: json::Raw<'_>, each: &mut impl FnMut(&str) -> bool) -> bool {
    let mut code = |c: json::Raw<'_>| {
        code_text(c)
            .and_then(|t| tax.topic(&t))
            .is_some_and(&mut *each)
    };
    match kind_of(v) {
        JsonKind::Array => json::array_items(v)
            .unwrap_or_default()
            .into_iter()
            .any(code),
        _ => code(v),
    }
}

/// The words of an address: a URL's host, path and query (after its
/// scheme), a path, or a domain; `None` when it is blank.
fn address_words(url: &str) -> Option<&str> {
    let t = url.trim();
    let rest = t.split_once("://").map_or(t, |(_, r)| r);
    Some(rest).filter(|p| p.len() > 1)
}

/// One member, by its [`folded_name`]: its strings when the name is
/// category-like ([`category_name`]), else a look into it when it is an
/// object or an array.
fn member<C: FnMut(&str) -> bool, N: FnMut(&str) -> bool, P: FnMut(&str) -> bool>(
    name: NameFacts,
    v: json::Raw<'_>,
    r: R<'_, C, N, P>,
    depth: usize,
) -> bool {
    // An object under such a name is also walked as any other (its codes:
    // `merchant: {"mcc": "5912"}`).
    let inner = |r: R<'_, C, N, P>| {
        kind_of(v) == JsonKind::Object
            && depth < MAX_DEPTH
            && object(&json::object_members(v).unwrap_or_default(), r, depth + 1)
    };
    if name.category_name {
        return strings(v, &mut r.category, depth) || inner(r);
    }
    if name.name_like {
        return strings(v, &mut r.name, depth) || inner(r);
    }
    match kind_of(v) {
        JsonKind::Object if depth < MAX_DEPTH => {
            object(&json::object_members(v).unwrap_or_default(), r, depth + 1)
        }
        JsonKind::Array if depth < MAX_DEPTH => json::array_items(v)
            .unwrap_or_default()
            .into_iter()
            .any(|item| {
                kind_of(item) == JsonKind::Object
                    && member(NameFacts::default(), item, r, depth + 1)
            }),
        _ => false,
    }
}

/// Every string in `v` (the value of a category-like member), as deep as
/// [`MAX_DEPTH`], and the names of its objects' members: a category map
/// names its categories by its keys (`categories: {"health": 0.9}`).
fn strings(v: json::Raw<'_>, each: &mut impl FnMut(&str) -> bool, depth: usize) -> bool {
    match kind_of(v) {
        JsonKind::String => as_str(v).is_some_and(|s| each(&s)),
        JsonKind::Array if depth < MAX_DEPTH => json::array_items(v)
            .unwrap_or_default()
            .into_iter()
            .any(|item| strings(item, each, depth + 1)),
        JsonKind::Object if depth < MAX_DEPTH => json::object_members(v)
            .unwrap_or_default()
            .iter()
            .any(|(key, item)| each(key) || strings(*item, each, depth + 1)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Looking a word's prefixes and suffixes up finds what comparing
        /// it with every stem found: words built of stems, the words that
        /// may follow one, and other letters, in any case.
        #[test]
        fn glued_finds_what_every_stem_finds(
            parts in proptest::collection::vec(
                "pharmacy|health|medical|dental|and|online|care|app|my|tele|mental|funda|[a-zA-Z]{1,5}", 1..5)
        ) {
            let sens = expand(
                &["health".to_string(), "pharmacy".to_string(), "medical".to_string()],
                crate::policy::fold_category,
            );
            let word = parts.concat();
            let lower = word.to_ascii_lowercase();
            let every = word.len() > 6
                && word.len() <= 64
                && sens.stems.iter().any(|st| glued_stem(lower.as_bytes(), st));
            proptest::prop_assert_eq!(sens.glued(std::iter::once(word.as_str())), every, "{}", word);
        }

        /// A string of the set always passes its shapes.
        #[test]
        fn shapes_pass_every_member(set in proptest::collection::vec("[a-z0-9]{1,70}", 1..40)) {
            let sh = Shapes::of(set.iter().map(|s| s.as_bytes()));
            for s in &set {
                proptest::prop_assert!(sh.may_hold(s.as_bytes()), "{}", s);
            }
        }
    }

    #[test]
    fn ambiguous_names_are_a_topic_only_as_the_whole_value() {
        let sens = expand(
            &["health".to_string(), "pharmacy".to_string()],
            crate::policy::fold_category,
        );
        for c in [
            "PrEP", "Plan B", "bipolar", "HBA", "AIDS", "STI", "thuốc", "ยา", " Rx ",
        ] {
            assert!(crate::policy::is_sensitive(c, &sens), "{c:?}");
        }
        for c in [
            "Meal Prep",
            "Teaching Aids",
            "Plan B for the weekend",
            "books",
            "Protein Bars",
        ] {
            assert!(!crate::policy::is_sensitive(c, &sens), "{c:?}");
        }
        // The eighteenth pass: more languages and inflections, a letter of
        // another script between two words, Korean inside longer words;
        // one-character and short Korean words only whole.
        for c in [
            "Medicina",
            "medicamento",
            "Klinik",
            "Apothekenbedarf",
            "farmacéutica",
            "Eczaneler",
            "药品",
            "中药",
            "薬",
            "정신건강의학과",
            "의원",
            "Books丶Health",
            "BooksㅣHealth",
            "Healthוbooks",
            "Shop\u{1d35}Pharmacy",
        ] {
            assert!(crate::policy::is_sensitive(c, &sens), "{c:?}");
        }
        for c in [
            "국회의원",
            "화학약품",
            "火薬",
            "农药",
            "Café Books",
            "naïve art",
            "Bookséshop",
        ] {
            assert!(!crate::policy::is_sensitive(c, &sens), "{c:?}");
        }
        // Only the configured topics' names: a table of other topics
        // reads none of them.
        let other = expand(&["gambling".to_string()], crate::policy::fold_category);
        assert!(!crate::policy::is_sensitive("PrEP", &other));
    }

    #[test]
    fn remembered_name_facts_are_the_names_own() {
        for _ in 0..2 {
            for key in [
                "page_url",
                "cat",
                "category",
                "title",
                "campaign_id",
                "ｃａｔｅｇｏｒｙ",
                "",
            ] {
                let (r, o) = (NameFacts::remembered(key), NameFacts::of(key));
                assert_eq!(
                    (r.page_address, r.category_name, r.name_like),
                    (o.page_address, o.category_name, o.name_like),
                    "{key}"
                );
                assert_eq!(
                    r.taxonomy.map(|t| t.is_some()),
                    o.taxonomy.map(|t| t.is_some())
                );
            }
        }
        assert!(NameFacts::remembered("page_url").page_address);
        assert!(!NameFacts::remembered("campaign_id").page_address);
        // OpenRTB's `cat` is a taxonomy's code only under `cattax` = IAB.
        assert!(NameFacts::remembered("cat").taxonomy[1].is_some());
        assert!(NameFacts::remembered("cat").taxonomy[0].is_none());
    }

    fn category_like(key: &str) -> bool {
        folded_name(key).is_some_and(|n| category_name(&n))
    }

    #[test]
    fn plural_member_names_are_read_as_their_singulars() {
        let read = NameFacts::of;
        for k in [
            "depts",
            "shelves",
            "stores",
            "custom_label_3",
            "dx",
            "meds",
            "feed_label",
        ] {
            assert!(read(k).category_name, "{k}");
        }
        for k in [
            "final_urls",
            "hrefs",
            "uris",
            "deeplinks",
            "links",
            "domains",
            "redirect",
        ] {
            assert!(read(k).page_address, "{k}");
        }
        assert!(read("ad_group").name_like);
        assert!(!read("status").category_name);
        assert!(!read("bus").category_name);
        let mut buf = [0u8; NAME_MAX];
        assert_eq!(
            singulars(b"categories", &mut buf),
            [Some(&b"category"[..]), None]
        );
        let mut buf = [0u8; NAME_MAX];
        assert_eq!(
            singulars(b"classes", &mut buf),
            [Some(&b"classe"[..]), Some(&b"class"[..])]
        );
        let mut buf = [0u8; NAME_MAX];
        assert_eq!(singulars(b"dept", &mut buf), [None, None]);
    }

    /// A stem that starts with another one matches nothing more: the table
    /// holds none (each word start is listed once).
    #[test]
    fn no_word_start_stem_starts_with_another() {
        for (topic, stems) in WORD_STARTS {
            let folded = word_starts(&[topic.to_string()], &crate::policy::fold_category);
            assert!(!folded.is_empty(), "{topic}");
            for a in *stems {
                for b in *stems {
                    let (fa, fb) = (
                        crate::policy::fold_category(a),
                        crate::policy::fold_category(b),
                    );
                    assert!(
                        a == b || fa == fb || !fa.starts_with(&fb),
                        "{a} starts with {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn inflected_names_are_read_by_their_stems() {
        let t = expand(
            &["health".to_string(), "pharmacy".to_string()],
            crate::policy::fold_category,
        );
        for c in [
            "Apoteket",
            "apteekista",
            "аптеки",
            "Υγείας",
            "Προϊόντα Υγείας",
            "lékárny",
            "Gesundheitswelt",
            "Apothekenprodukte",
            "pharmacyessentials",
            "healthessentials",
            "サプリメント",
        ] {
            assert!(crate::policy::is_sensitive(c, &t), "{c}");
        }
        for c in [
            "Pharmacycle bikes",
            "Отлично, здорово",
            "com.example.medicineball",
        ] {
            assert!(!crate::policy::is_sensitive(c, &t), "{c}");
        }
    }

    #[test]
    fn category_like_names() {
        for k in [
            "subcategory",
            "categories",
            "iab_categories",
            "Topic",
            "genre",
            "cat",
            "sectioncat",
            "pagecat",
            "primaryGenre",
            "ｃａｔｅｇｏｒｉｅｓ",
            "labels",
            "interests",
            "kategorie",
            "Rubrique",
            "cat_path",
            "store_type",
            "amenity",
        ] {
            assert!(category_like(k), "{k}");
        }
        for k in ["カテゴリ", "分类", "카테고리", "категория"] {
            assert!(NameFacts::of(k).category_name, "{k}");
        }
        assert!(!NameFacts::of("名前").category_name);
        for k in [
            "page_url",
            "location",
            "catalog_id",
            "user_agent",
            "campaign_id",
            "bcat",
            "placement",
            "title",
        ] {
            assert!(!category_like(k), "{k}");
        }
    }

    #[test]
    fn remembered_verdicts_belong_to_their_table() {
        // A reload builds another table: what one table said of a category
        // is never the answer of the next, in either direction.
        let health = Sensitive::new(vec![vec!["health".into()]]);
        let books = Sensitive::new(vec![vec!["books".into()]]);
        for _ in 0..2 {
            assert!(crate::policy::is_sensitive("Health", &health));
            assert!(!crate::policy::is_sensitive("Health", &books));
            assert!(crate::policy::is_sensitive("Books", &books));
            assert!(!crate::policy::is_sensitive("Books", &health));
        }
    }

    #[test]
    fn codes_are_read_under_taxonomy_names_only() {
        let t = Sensitive::new(vec![vec!["health".into()], vec!["pharmacy".into()]]);
        let sensitive = |json: &str| {
            let members = json::object_members(json::Raw::parse(json).unwrap()).unwrap();
            let r = &mut Readers {
                category: |c: &str| crate::policy::is_sensitive(c, &t),
                name: |_: &str| false,
                page: |_: &str| false,
            };
            object(&members, r, 0)
        };
        assert!(sensitive(r#"{"Merchant-Category_Code": 5912}"#));
        assert!(sensitive(r#"{"ｍｃｃ": "5912"}"#));
        assert!(sensitive(r#"{"genreIds": [6014, " 6020 "]}"#));
        assert!(sensitive(r#"{"cattax": 2, "cat": ["286"]}"#));
        assert!(!sensitive(r#"{"cat": ["286"]}"#));
        assert!(!sensitive(r#"{"order_total": 5912, "mcc": 5411}"#));
        // The sixteenth pass's codes, and one under a name read as a name.
        assert!(sensitive(r#"{"cattax": 2, "cat": ["228"]}"#));
        assert!(sensitive(r#"{"cattax": 2, "pagecat": ["399"]}"#));
        assert!(!sensitive(r#"{"cattax": 2, "cat": ["225"]}"#));
        assert!(sensitive(r#"{"google_product_category": 518}"#));
        assert!(sensitive(r#"{"naics": "446110"}"#));
        assert!(sensitive(r#"{"sic": 2834}"#));
        assert!(sensitive(r#"{"mcc": "4119"}"#));
        // A set flag named by a word of the table, and schema.org types.
        assert!(sensitive(r#"{"health": true}"#));
        assert!(sensitive(r#"{"health_plan": "yes"}"#));
        assert!(!sensitive(r#"{"health_plan": "no"}"#));
        // The nineteenth pass: a condition's member says something
        // whatever its value, unless the value says no.
        assert!(sensitive(r#"{"health_status": "positive"}"#));
        assert!(sensitive(r#"{"pharmacy": "oui"}"#));
        assert!(sensitive(r#"{"health_score": 17}"#));
        assert!(sensitive(r#"{"health": {"level": 2}}"#));
        for no in ["false", "0", "\"no\"", "\"\"", "null", "\"off\""] {
            assert!(!sensitive(&format!(r#"{{"health": {no}}}"#)), "{no}");
        }
        assert!(!sensitive(r#"{"books": "positive"}"#));
        // A landing page under any name, when written as a URL.
        let paths = |json: &str| {
            let members = json::object_members(json::Raw::parse(json).unwrap()).unwrap();
            let r = &mut Readers {
                category: |_: &str| false,
                name: |_: &str| false,
                page: |p: &str| p.contains("pharmacy"),
            };
            object(&members, r, 0)
        };
        assert!(paths(r#"{"dest": "https://shop.example/pharmacy"}"#));
        assert!(paths(
            r#"{"final_urls": ["https://shop.example/pharmacy/pens"]}"#
        ));
        assert!(paths(
            r#"{"anything": ["/c/x", "https://shop.example/pharmacy"]}"#
        ));
        assert!(paths(r#"{"domains": ["pharmacy.example"]}"#));
        assert!(!paths(r#"{"note": "pharmacy"}"#));
        assert!(!paths(r#"{"dest": "https://shop.example/garden"}"#));
        assert!(!sensitive(r#"{"books": true}"#));
        assert!(sensitive(r#"{"@type": "HealthClub"}"#));
        assert!(sensitive(r#"{"@type": ["Product", "Pharmacy"]}"#));
        assert!(!sensitive(r#"{"@type": "Product"}"#));
        assert!(sensitive(
            r#"{"merchant": {"name": "Corner Shop", "mcc": "5912"}}"#
        ));
        assert!(sensitive(
            r#"{"site": {"content": {"cattax": "6", "pagecat": [300]}}}"#
        ));
    }

    #[test]
    fn unspaced_scripts() {
        assert!(unspaced("健康"));
        assert!(unspaced("약국"));
        assert!(unspaced("สุขภาพ"));
        assert!(!unspaced("sante"));
        assert!(!unspaced("здоровье"));
        assert!(!unspaced(""));
    }
}
