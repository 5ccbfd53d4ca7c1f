//! The published `menu.json`: the one schema every provider maps into.
//!
//! Documented for the web team in `docs/menu-schema.md` and as a JSON Schema in
//! `docs/menu.schema.json`. It holds no wall-clock time, so the same input
//! gives byte-equal output and an unchanged menu is recognisable as such.

use serde::{Deserialize, Serialize};

/// The currency when the POS names none (`pos-api.md`).
pub const DEFAULT_CURRENCY: &str = "KRW";

/// Fraction digits of a currency's minor unit (ISO 4217); 2 unless listed.
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// A price in minor units as a customer reads it: `₩4,500`, `$4.50`, `12.500 KWD`.
pub fn display_price(amount: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    let divisor = 10_i64.pow(digits);
    let sign = if amount < 0 { "-" } else { "" };
    let whole = (amount / divisor).unsigned_abs();
    let fraction = (amount % divisor).unsigned_abs();
    let mut grouped = String::new();
    for (index, digit) in whole.to_string().chars().enumerate() {
        let left = whole.to_string().len() - index;
        if index > 0 && left.is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let number = if digits == 0 {
        grouped
    } else {
        format!("{grouped}.{fraction:0width$}", width = digits as usize)
    };
    match currency {
        "KRW" => format!("{sign}₩{number}"),
        "USD" => format!("{sign}${number}"),
        "EUR" => format!("{sign}€{number}"),
        "JPY" => format!("{sign}¥{number}"),
        "GBP" => format!("{sign}£{number}"),
        other => format!("{sign}{number} {other}"),
    }
}

/// Bumped whenever the shape of `menu.json` changes incompatibly.
///
/// 2: availability windows (a page built for 1 would sell lunch at dinner
/// time), an item may be listed in several categories, allergens, dietary
/// facts, nutrition, sold-out-until, per-variant images, preselected options
/// and option quantities, the store's time zone and a tax note.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Menu {
    pub schema_version: u32,
    pub store: StoreInfo,
    /// ISO 4217 code; every price in the file is an integer in its minor unit.
    pub currency: String,
    /// Whether prices include tax (VAT); absent when the POS does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices_include_tax: Option<bool>,
    /// Visible categories in display order, each with its visible items in order.
    pub categories: Vec<Category>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreInfo {
    pub id: String,
    pub name: String,
    /// IANA time zone of the store, e.g. `Asia/Seoul`: the zone of every window.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub name: String,
    /// When the category can be ordered; empty: at all hours.
    pub availability: Vec<Window>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The price to show: the default variant's price when there are variants.
    pub price: i64,
    pub sold_out: bool,
    /// RFC 3339 time at which a sold-out item is orderable again, as the POS said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold_out_until: Option<String>,
    /// Root-relative path of the image in the same release, e.g. `/images/3fa9c2e1d0b4a7f6.jpg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The same photo at several widths, narrowest first, for `srcset`;
    /// empty when the store publishes photos as the POS sends them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_variants: Vec<ImageVariant>,
    /// When the item can be ordered, within its category's windows; empty: at all hours.
    pub availability: Vec<Window>,
    /// Allergens from the closed vocabulary, sorted.
    pub allergens: Vec<Allergen>,
    /// Allergens the POS names outside the vocabulary, as written there.
    pub other_allergens: Vec<String>,
    /// Dietary facts from the closed vocabulary, sorted.
    pub dietary: Vec<Diet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nutrition: Option<Nutrition>,
    /// Sizes or variations with their own price; empty when the item has one price.
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub option_groups: Vec<OptionGroup>,
    /// The POS image id this item asked for; resolved into `image` by the images stage.
    #[serde(skip)]
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variant {
    pub id: String,
    pub name: String,
    pub price: i64,
    pub sold_out: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold_out_until: Option<String>,
    pub is_default: bool,
    /// This variant's own photo; the item's `image` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// This variant's own photo at several widths, as an item's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_variants: Vec<ImageVariant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nutrition: Option<Nutrition>,
    /// Option groups that only apply to this variant (GloriaFood size groups).
    #[serde(default)]
    pub option_groups: Vec<OptionGroup>,
    /// The POS image id this variant asked for; resolved into `image` by the images stage.
    #[serde(skip)]
    pub image_id: Option<String>,
}

/// One width of a photo, upright and without metadata, in a modern format
/// and a fallback every browser shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageVariant {
    pub width: u32,
    pub height: u32,
    /// Root-relative path of the WebP file, e.g. `/images/3fa9c2e1d0b4a7f6-640.webp`.
    pub webp: String,
    /// Root-relative path of the JPEG file, e.g. `/images/3fa9c2e1d0b4a7f6-640.jpg`.
    pub jpeg: String,
}

/// Whether `name` is one of our content-derived image file names: the
/// POS's file (`0123456789abcdef.jpg`) or a variant of it
/// (`0123456789abcdef-640.webp`). Names read back from a menu or the state
/// file pass through this before they touch a path.
pub fn is_image_name(name: &str) -> bool {
    let Some((stem, extension)) = name.split_once('.') else {
        return false;
    };
    let (hash, width) = match stem.split_once('-') {
        Some((hash, width)) => (hash, Some(width)),
        None => (stem, None),
    };
    let width_ok = width.is_none_or(|width| {
        (1..=5).contains(&width.len())
            && !width.starts_with('0')
            && width.bytes().all(|b| b.is_ascii_digit())
    });
    hash.len() == 16
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && width_ok
        && matches!(extension, "jpg" | "png" | "webp" | "gif")
}

/// What the images stage published for one POS image: the file `image`
/// names (under `/images/`) and, with variants on, every width.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedImage {
    pub file: String,
    pub variants: Vec<ImageVariant>,
}

impl PublishedImage {
    /// A photo published as one file, as the POS sent it.
    pub fn file(name: String) -> PublishedImage {
        PublishedImage {
            file: name,
            variants: Vec::new(),
        }
    }
}

impl Item {
    /// Every image path the item names: its own and its variants', each at every width.
    pub fn image_paths(&self) -> impl Iterator<Item = &String> {
        let own = self.image.iter().chain(widths(&self.image_variants));
        let variants = self
            .variants
            .iter()
            .flat_map(|variant| variant.image.iter().chain(widths(&variant.image_variants)));
        own.chain(variants)
    }
}

fn widths(variants: &[ImageVariant]) -> impl Iterator<Item = &String> {
    variants
        .iter()
        .flat_map(|variant| [&variant.webp, &variant.jpeg])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionGroup {
    pub id: String,
    pub name: String,
    pub min_select: u32,
    /// `None` means no upper limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_select: Option<u32>,
    /// Whether one option may be chosen more than once; the limits then count units.
    pub allow_quantities: bool,
    pub options: Vec<OptionChoice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionChoice {
    pub id: String,
    pub name: String,
    /// Added to the item's price when chosen; may be negative for a discount.
    pub price_delta: i64,
    pub sold_out: bool,
    /// Chosen when the item is first shown.
    pub is_default: bool,
    /// With `allowQuantities`, at most this many of this option; absent: the group's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<u32>,
}

/// A time the category or item can be ordered: on `days`, from `start` to
/// `end` local time in the store's `timeZone`. `end` at or before `start`
/// runs past midnight into the next day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    /// Days the window starts on, Monday first, never empty.
    pub days: Vec<Day>,
    /// `HH:MM`, 24-hour.
    pub start: String,
    /// `HH:MM`, 24-hour; `24:00` is the end of the day.
    pub end: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// `mon`, `MON`, `Monday`, `monday`: the first three letters decide.
    pub fn parse(text: &str) -> Option<Day> {
        let lower = text.trim().to_ascii_lowercase();
        let head = lower.get(..3)?;
        Day::ALL.into_iter().find(|day| day.as_str() == head)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }
}

/// The closed allergen vocabulary: the EU's 14 and Korea's labelling list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allergen {
    Beef,
    Buckwheat,
    Celery,
    Chicken,
    Crab,
    Crustaceans,
    Eggs,
    Fish,
    Gluten,
    Lupin,
    Mackerel,
    Milk,
    Molluscs,
    Mustard,
    Peach,
    Peanuts,
    PineNuts,
    Pork,
    Sesame,
    Shellfish,
    Shrimp,
    Soy,
    Squid,
    Sulphites,
    Tomato,
    TreeNuts,
    Walnuts,
    Wheat,
}

impl Allergen {
    pub const ALL: [Allergen; 28] = [
        Allergen::Beef,
        Allergen::Buckwheat,
        Allergen::Celery,
        Allergen::Chicken,
        Allergen::Crab,
        Allergen::Crustaceans,
        Allergen::Eggs,
        Allergen::Fish,
        Allergen::Gluten,
        Allergen::Lupin,
        Allergen::Mackerel,
        Allergen::Milk,
        Allergen::Molluscs,
        Allergen::Mustard,
        Allergen::Peach,
        Allergen::Peanuts,
        Allergen::PineNuts,
        Allergen::Pork,
        Allergen::Sesame,
        Allergen::Shellfish,
        Allergen::Shrimp,
        Allergen::Soy,
        Allergen::Squid,
        Allergen::Sulphites,
        Allergen::Tomato,
        Allergen::TreeNuts,
        Allergen::Walnuts,
        Allergen::Wheat,
    ];

    /// The vocabulary code, e.g. `tree-nuts`.
    pub fn code(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// A POS's name or code for an allergen, in English or Korean, matched
    /// loosely (case, `_`/`-`/space, a plural `s`); `None` when it is not in
    /// the vocabulary.
    pub fn recognise(text: &str) -> Option<Allergen> {
        let key = loose(text);
        let synonym = match key.as_str() {
            "soybean" | "soybeans" | "soya" | "대두" => "soy",
            "egg" | "난류" | "계란" | "달걀" => "eggs",
            "우유" | "dairy" => "milk",
            "peanut" | "땅콩" => "peanuts",
            "treenut" | "nuts" | "nut" => "treenuts",
            "walnut" | "호두" => "walnuts",
            "pinenut" | "잣" => "pinenuts",
            "sulfites" | "sulfite" | "sulphite" | "sulphurdioxide" | "아황산류" => "sulphites",
            "crustacean" => "crustaceans",
            "mollusc" | "mollusk" | "mollusks" => "molluscs",
            "밀" => "wheat",
            "메밀" => "buckwheat",
            "고등어" => "mackerel",
            "게" => "crab",
            "새우" => "shrimp",
            "돼지고기" => "pork",
            "복숭아" => "peach",
            "토마토" => "tomato",
            "닭고기" => "chicken",
            "쇠고기" | "소고기" => "beef",
            "오징어" => "squid",
            "조개류" | "clams" | "shellfishes" => "shellfish",
            "참깨" | "깨" => "sesame",
            "생선" | "어류" => "fish",
            "셀러리" => "celery",
            "겨자" => "mustard",
            "글루텐" | "cerealscontaininggluten" => "gluten",
            other => other,
        };
        Allergen::ALL
            .into_iter()
            .find(|allergen| loose(&allergen.code()) == synonym)
    }
}

/// The closed vocabulary of dietary facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Diet {
    DairyFree,
    GlutenFree,
    Halal,
    Kosher,
    NutFree,
    Spicy,
    Vegan,
    Vegetarian,
}

impl Diet {
    /// A POS's tag or code for a dietary fact (`VEGAN`, `gluten_free`, `HOT`).
    pub fn recognise(text: &str) -> Option<Diet> {
        Some(match loose(text).as_str() {
            "dairyfree" => Diet::DairyFree,
            "glutenfree" => Diet::GlutenFree,
            "halal" => Diet::Halal,
            "kosher" => Diet::Kosher,
            "nutfree" => Diet::NutFree,
            "spicy" | "hot" => Diet::Spicy,
            "vegan" => Diet::Vegan,
            "vegetarian" => Diet::Vegetarian,
            _ => return None,
        })
    }
}

/// Lower case, without spaces, `-` and `_`.
fn loose(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Nutrition facts as the POS gives them, per `basis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Nutrition {
    pub basis: NutritionBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_kcal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fat_g: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbohydrate_g: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sugars_g: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protein_g: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt_g: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NutritionBasis {
    /// One serving as sold.
    Serving,
    #[serde(rename = "100g")]
    Per100g,
    #[serde(rename = "100ml")]
    Per100ml,
}

impl Menu {
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.categories
            .iter()
            .flat_map(|category| category.items.iter())
    }

    pub fn items_mut(&mut self) -> impl Iterator<Item = &mut Item> {
        self.categories
            .iter_mut()
            .flat_map(|category| category.items.iter_mut())
    }

    pub fn item_count(&self) -> usize {
        self.categories
            .iter()
            .map(|category| category.items.len())
            .sum()
    }

    /// The exact bytes written to `data/menu.json`: pretty, UTF-8, newline-terminated.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a Menu always serialises");
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
impl Menu {
    /// A test menu of store `s` (KRW, Asia/Seoul): `items` in one category `C`.
    pub(crate) fn of_items(items: Vec<Item>) -> Menu {
        Menu {
            schema_version: SCHEMA_VERSION,
            store: StoreInfo {
                id: "s".into(),
                name: "s".into(),
                time_zone: "Asia/Seoul".into(),
            },
            currency: "KRW".into(),
            prices_include_tax: None,
            categories: vec![Category {
                id: "C".into(),
                name: "c".into(),
                availability: Vec::new(),
                items,
            }],
        }
    }
}
