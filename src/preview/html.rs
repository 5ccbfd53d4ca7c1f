//! The preview pages' HTML: plain HTML and one inline style sheet, no
//! script, nothing fetched from elsewhere. Every text from the POS goes
//! through [`escape`].

use std::fmt::Write;

use crate::diff::{self, ItemPair};
use crate::menu::{self, ImageVariant, Item, Menu, OptionGroup, Window};

/// `<`, `>`, `&`, `"` and `'` as entities: POS text never becomes markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A price as a customer reads it (`₩4,500`); see [`menu::display_price`].
pub fn price(amount: i64, currency: &str) -> String {
    menu::display_price(amount, currency)
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Noto Sans KR','Apple SD Gothic Neo','Malgun Gothic',sans-serif;\
margin:0 auto;max-width:46rem;padding:0 .8rem 3rem;color:#222;line-height:1.4}\
header{border-bottom:2px solid #222;margin-bottom:1rem}h1{font-size:1.4rem;margin:.8rem 0 .2rem}\
.meta{color:#666;font-size:.85rem;margin:.2rem 0 .6rem}\
.held{background:#fff3cd;border:2px solid #c90;padding:.6rem .8rem;margin:1rem 0}\
.held h2{margin:0 0 .3rem;font-size:1.1rem}\
h2{font-size:1.15rem;margin:1.4rem 0 .4rem}\
.item{display:flex;gap:.8rem;padding:.6rem 0;border-bottom:1px solid #ddd}\
.item img,.ph{width:84px;height:84px;object-fit:cover;border-radius:6px;flex:none;background:#eee}\
.body{flex:1;min-width:0}.name{font-weight:600}.en{color:#666;font-size:.85rem}\
.price{font-weight:600;white-space:nowrap}.desc{color:#444;font-size:.9rem;margin:.2rem 0}\
.soldout{opacity:.55}.badge{display:inline-block;font-size:.75rem;padding:0 .35rem;border-radius:4px;\
background:#eee;margin:.1rem .2rem .1rem 0}.badge.out{background:#c33;color:#fff}\
.badge.time{background:#dbeafe}.badge.allergen{background:#fde2e2}.badge.diet{background:#dcfce7}\
ul{margin:.2rem 0;padding-left:1.1rem;font-size:.88rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #ddd;\
padding:.35rem .3rem;text-align:left;vertical-align:top}.up{color:#b00}.down{color:#06c}\
.pair{display:flex;gap:.5rem}.pair figure{margin:0;text-align:center;font-size:.75rem}\
.pair img{width:120px;height:120px;object-fit:cover;border-radius:6px}\
a{color:#0645ad}";

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ko\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

fn days(window: &Window) -> String {
    let names: Vec<&str> = window.days.iter().map(|day| day.as_str()).collect();
    if names.len() == 7 {
        "every day".to_string()
    } else {
        names.join(" ")
    }
}

/// `mon tue 11:00–14:00; sat 10:00–22:00`.
pub fn windows(windows: &[Window]) -> String {
    windows
        .iter()
        .map(|window| format!("{} {}–{}", days(window), window.start, window.end))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The header of a store's page: its name, zone, and a note.
pub fn header(menu: &Menu, note: &str) -> String {
    let tax = match menu.prices_include_tax {
        Some(true) => " · prices include tax",
        Some(false) => " · tax added at checkout",
        None => "",
    };
    format!(
        "<header><h1>{}</h1><p class=\"meta\">{} · {} · {}{tax}</p></header>\n",
        escape(&menu.store.name),
        escape(note),
        escape(&menu.store.time_zone),
        escape(&menu.currency)
    )
}

/// The held banner: why the release waits for a person.
pub fn held_banner(reasons: &[String], since: &str, store_id: &str) -> String {
    let mut html = String::from("<section class=\"held\"><h2>Held: not published yet</h2><ul>");
    for reason in reasons {
        let _ = write!(html, "<li>{}</li>", escape(reason));
    }
    let _ = writeln!(
        html,
        "</ul><p class=\"meta\">since {} · <code>menusync approve {}</code> publishes this \
         release, <code>menusync reject {}</code> keeps the published menu</p></section>",
        escape(since),
        escape(store_id),
        escape(store_id)
    );
    html
}

/// Every category and item as a customer would see it.
pub fn menu_body(menu: &Menu) -> String {
    let mut html = String::new();
    for category in &menu.categories {
        let _ = write!(html, "<section><h2>{}", escape(&category.name));
        if !category.availability.is_empty() {
            let _ = write!(
                html,
                " <span class=\"badge time\">{}</span>",
                escape(&windows(&category.availability))
            );
        }
        html.push_str("</h2>\n");
        for item in &category.items {
            html.push_str(&item_html(item, &menu.currency));
        }
        html.push_str("</section>\n");
    }
    html
}

/// An item's photo, or a grey placeholder. With variants, the browser
/// picks a width by `srcset` and `sizes` (the CSS width the photo is shown
/// at), WebP where it can, so a phone fetches the small file, not the largest.
pub fn photo(image: Option<&str>, variants: &[ImageVariant], alt: &str, shown_px: u32) -> String {
    let Some(path) = image else {
        return "<div class=\"ph\"></div>".to_string();
    };
    let src = escape(path.trim_start_matches('/'));
    if variants.is_empty() {
        return format!("<img src=\"{src}\" alt=\"{}\">", escape(alt));
    }
    let srcset = |path: fn(&ImageVariant) -> &str| {
        variants
            .iter()
            .map(|variant| {
                format!(
                    "{} {}w",
                    escape(path(variant).trim_start_matches('/')),
                    variant.width
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "<picture><source type=\"image/webp\" srcset=\"{}\" sizes=\"{shown_px}px\">\
         <img src=\"{src}\" srcset=\"{}\" sizes=\"{shown_px}px\" alt=\"{}\"></picture>",
        srcset(|variant| &variant.webp),
        srcset(|variant| &variant.jpeg),
        escape(alt)
    )
}

fn item_html(item: &Item, currency: &str) -> String {
    let mut html = format!(
        "<article class=\"item{}\" id=\"item-{}\">{}<div class=\"body\">",
        if item.sold_out { " soldout" } else { "" },
        escape(&item.id),
        photo(item.image.as_deref(), &item.image_variants, &item.name, 84)
    );
    let _ = write!(
        html,
        "<div><span class=\"name\">{}</span> <span class=\"price\">{}</span></div>",
        escape(&item.name),
        price(item.price, currency)
    );
    if let Some(name_en) = &item.name_en {
        let _ = write!(html, "<div class=\"en\">{}</div>", escape(name_en));
    }
    if let Some(description) = &item.description {
        let _ = write!(html, "<p class=\"desc\">{}</p>", escape(description));
    }
    html.push_str("<div>");
    if item.sold_out {
        let until = item
            .sold_out_until
            .as_deref()
            .map(|until| format!(" until {until}"))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<span class=\"badge out\">sold out{}</span>",
            escape(&until)
        );
    }
    if !item.availability.is_empty() {
        let _ = write!(
            html,
            "<span class=\"badge time\">{}</span>",
            escape(&windows(&item.availability))
        );
    }
    for allergen in &item.allergens {
        let _ = write!(
            html,
            "<span class=\"badge allergen\">{}</span>",
            escape(&allergen.code())
        );
    }
    for allergen in &item.other_allergens {
        let _ = write!(
            html,
            "<span class=\"badge allergen\">{}</span>",
            escape(allergen)
        );
    }
    for diet in &item.dietary {
        let code = serde_json::to_value(diet)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(html, "<span class=\"badge diet\">{}</span>", escape(&code));
    }
    for tag in &item.tags {
        let _ = write!(html, "<span class=\"badge\">{}</span>", escape(tag));
    }
    html.push_str("</div>");
    if !item.variants.is_empty() {
        html.push_str("<ul>");
        for variant in &item.variants {
            let _ = write!(
                html,
                "<li>{} {}{}{}</li>",
                escape(&variant.name),
                price(variant.price, currency),
                if variant.is_default { " (default)" } else { "" },
                if variant.sold_out {
                    " — sold out"
                } else {
                    ""
                }
            );
        }
        html.push_str("</ul>");
    }
    let groups = item
        .option_groups
        .iter()
        .chain(item.variants.iter().flat_map(|v| v.option_groups.iter()));
    for group in groups {
        html.push_str(&group_html(group, currency));
    }
    html.push_str("</div></article>\n");
    html
}

fn group_html(group: &OptionGroup, currency: &str) -> String {
    let limit = match group.max_select {
        Some(max) if max == group.min_select => format!("choose {max}"),
        Some(max) => format!("choose {}–{max}", group.min_select),
        None if group.min_select > 0 => format!("at least {}", group.min_select),
        None => "optional".to_string(),
    };
    let mut html = format!(
        "<div class=\"meta\">{} ({limit})</div><ul>",
        escape(&group.name)
    );
    for option in &group.options {
        let delta = if option.price_delta == 0 {
            String::new()
        } else {
            format!(
                " {}{}",
                if option.price_delta > 0 { "+" } else { "" },
                price(option.price_delta, currency)
            )
        };
        let _ = write!(
            html,
            "<li>{}{delta}{}{}</li>",
            escape(&option.name),
            if option.is_default { " ✓" } else { "" },
            if option.sold_out { " — sold out" } else { "" }
        );
    }
    html.push_str("</ul>");
    html
}

/// What changed from `old` to `new`, item by item, photos side by side.
pub fn changes_body(old: Option<&Menu>, new: &Menu) -> String {
    let Some(old) = old else {
        return format!(
            "<p>First release: {} items.</p>\n{}",
            new.item_count(),
            menu_body(new)
        );
    };
    let currency = &new.currency;
    let pairs = diff::pairs(old, new);
    let mut rows = String::new();
    for (change, items) in [("added", &pairs.added), ("removed", &pairs.removed)] {
        for item in items {
            let _ = write!(
                rows,
                "<tr><td>{change}</td><td>{}</td><td>{}</td></tr>",
                escape(&item.name),
                price(item.price, currency)
            );
        }
    }
    let mut photos = String::new();
    for ItemPair { old: was, new: now } in &pairs.both {
        if was.price != now.price {
            let class = if now.price > was.price { "up" } else { "down" };
            let _ = write!(
                rows,
                "<tr><td class=\"{class}\">price {}</td><td>{}</td><td>{} → <b>{}</b></td></tr>",
                if class == "up" { "up" } else { "down" },
                escape(&now.name),
                price(was.price, currency),
                price(now.price, currency)
            );
        }
        for (old_variant, new_variant) in diff::variant_pairs(was, now) {
            if old_variant.price != new_variant.price {
                let _ = write!(
                    rows,
                    "<tr><td>variant price</td><td>{} {}</td><td>{} → <b>{}</b></td></tr>",
                    escape(&now.name),
                    escape(&new_variant.name),
                    price(old_variant.price, currency),
                    price(new_variant.price, currency)
                );
            }
        }
        if was.sold_out != now.sold_out {
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{}</td><td></td></tr>",
                if now.sold_out {
                    "now sold out"
                } else {
                    "back in stock"
                },
                escape(&now.name)
            );
        }
        if was.availability != now.availability {
            let _ = write!(
                rows,
                "<tr><td>hours</td><td>{}</td><td>{} → {}</td></tr>",
                escape(&now.name),
                escape(&windows(&was.availability)),
                escape(&windows(&now.availability))
            );
        }
        if was.allergens != now.allergens || was.other_allergens != now.other_allergens {
            let list = |item: &Item| {
                item.allergens
                    .iter()
                    .map(|allergen| allergen.code())
                    .chain(item.other_allergens.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                rows,
                "<tr><td>allergens</td><td>{}</td><td>{} → {}</td></tr>",
                escape(&now.name),
                escape(&list(was)),
                escape(&list(now))
            );
        }
        if was.image != now.image {
            let _ = writeln!(
                photos,
                "<div class=\"item\"><div class=\"body\"><div class=\"name\">{}</div>\
                 <div class=\"pair\"><figure>{}<figcaption>before</figcaption></figure>\
                 <figure>{}<figcaption>after</figcaption></figure></div></div></div>",
                escape(&now.name),
                photo(was.image.as_deref(), &was.image_variants, &was.name, 120),
                photo(now.image.as_deref(), &now.image_variants, &now.name, 120)
            );
        }
    }
    let mut html = String::new();
    if rows.is_empty() && photos.is_empty() {
        html.push_str("<p>No item changed (names, options or categories may have).</p>\n");
    }
    if !rows.is_empty() {
        let _ = writeln!(
            html,
            "<table><thead><tr><th>change</th><th>item</th><th>price</th></tr></thead>\
             <tbody>{rows}</tbody></table>"
        );
    }
    if !photos.is_empty() {
        let _ = write!(html, "<h2>Photos</h2>\n{photos}");
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_the_way_customers_read_them() {
        assert_eq!(price(4500, "KRW"), "₩4,500");
        assert_eq!(price(45_000_000, "KRW"), "₩45,000,000");
        assert_eq!(price(450, "USD"), "$4.50");
        assert_eq!(price(5, "EUR"), "€0.05");
        assert_eq!(price(-500, "KRW"), "-₩500");
        assert_eq!(price(12500, "KWD"), "12.500 KWD");
        assert_eq!(price(0, "KRW"), "₩0");
    }

    #[test]
    fn pos_text_never_becomes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
