//! Publish gates: what in a new menu, compared with the published one, is
//! big enough that a person looks before customers do. Pure, like the
//! transform: the pass holds the release when [`check`] gives reasons.

use crate::config::Gates;
use crate::diff::{self, ItemPair};
use crate::menu::{Menu, display_price};

/// Why `new` must wait for approval, one line per tripped gate (empty: publish).
///
/// Each line names the items and prices, e.g. `1 price(s) moved more than 50%:
/// 아메리카노 900% (₩4,500 → ₩45,000)`. A first release (no published menu) passes every gate; the
/// shrink guard and the checks on the menu itself still apply.
pub fn check(old: &Menu, new: &Menu, gates: &Gates) -> Vec<String> {
    let pairs = diff::pairs(old, new);
    let price = |amount: i64| display_price(amount, &new.currency);
    let mut reasons = Vec::new();
    let mut moved = Vec::new();
    let mut zeroed = Vec::new();
    for ItemPair { old: was, new: now } in &pairs.both {
        let mut prices = vec![(now.name.clone(), was.price, now.price)];
        prices.extend(
            diff::variant_pairs(was, now)
                .into_iter()
                .map(|(a, b)| (format!("{} {}", now.name, b.name), a.price, b.price)),
        );
        for (name, before, after) in prices {
            if before == after {
                continue;
            }
            if gates.price_zero && before > 0 && after == 0 {
                zeroed.push(format!("{name} ({} → {})", price(before), price(0)));
                continue;
            }
            if gates.price_change_percent > 0 && before > 0 {
                let change = (i128::from(after) - i128::from(before)).unsigned_abs() * 100
                    / i128::from(before).unsigned_abs();
                if change > u128::from(gates.price_change_percent) {
                    moved.push(format!(
                        "{name} {change}% ({} → {})",
                        price(before),
                        price(after)
                    ));
                }
            }
        }
    }
    if !moved.is_empty() {
        reasons.push(format!(
            "{} price(s) moved more than {}%: {}",
            moved.len(),
            gates.price_change_percent,
            moved.join(", ")
        ));
    }
    if !zeroed.is_empty() {
        reasons.push(format!(
            "{} price(s) became 0: {}",
            zeroed.len(),
            zeroed.join(", ")
        ));
    }
    let removed = pairs.removed.len() as u64;
    if gates.removed_items > 0 && removed > gates.removed_items {
        reasons.push(format!(
            "{removed} items removed at once, more than {}: {}",
            gates.removed_items,
            diff::names(
                &pairs
                    .removed
                    .iter()
                    .map(|item| item.name.clone())
                    .collect::<Vec<_>>()
            )
        ));
    }
    let sold_out: Vec<String> = pairs
        .both
        .iter()
        .filter(|pair| !pair.old.sold_out && pair.new.sold_out)
        .map(|pair| pair.new.name.clone())
        .collect();
    if gates.newly_sold_out > 0 && sold_out.len() as u64 > gates.newly_sold_out {
        reasons.push(format!(
            "{} items newly sold out at once, more than {}: {}",
            sold_out.len(),
            gates.newly_sold_out,
            diff::names(&sold_out)
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::menu::Item;

    fn item(id: &str, price: i64) -> Item {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": format!("메뉴{id}"), "tags": [], "price": price, "soldOut": false,
            "availability": [], "allergens": [], "otherAllergens": [], "dietary": [],
            "variants": [], "optionGroups": []
        }))
        .unwrap()
    }

    #[test]
    fn a_tenfold_price_and_a_zero_price_hold() {
        let old = Menu::of_items(vec![item("1", 4500), item("2", 5000), item("3", 6000)]);
        let new = Menu::of_items(vec![item("1", 45000), item("2", 0), item("3", 6600)]);
        let reasons = check(&old, &new, &Gates::default());
        assert_eq!(
            reasons,
            [
                "1 price(s) moved more than 50%: 메뉴1 900% (₩4,500 → ₩45,000)",
                "1 price(s) became 0: 메뉴2 (₩5,000 → ₩0)"
            ]
        );
        // A 10% change passes; a drop to a tenth holds too.
        assert!(
            check(
                &old,
                &Menu::of_items(vec![item("1", 4950)]),
                &Gates::default()
            )
            .is_empty()
        );
        let drop = check(
            &old,
            &Menu::of_items(vec![item("1", 450), item("2", 5000), item("3", 6000)]),
            &Gates::default(),
        );
        assert_eq!(
            drop,
            ["1 price(s) moved more than 50%: 메뉴1 90% (₩4,500 → ₩450)"]
        );
    }

    #[test]
    fn counts_hold_only_past_their_limit_and_zero_turns_a_gate_off() {
        let old = Menu::of_items((0..30).map(|i| item(&i.to_string(), 1000)).collect());
        let fewer = Menu::of_items((0..19).map(|i| item(&i.to_string(), 1000)).collect());
        let gates = Gates {
            removed_items: 10,
            ..Gates::default()
        };
        let reasons = check(&old, &fewer, &gates);
        assert_eq!(reasons.len(), 1);
        assert_eq!(
            reasons[0],
            "11 items removed at once, more than 10: 메뉴19, 메뉴20, 메뉴21, …"
        );
        let off = Gates {
            removed_items: 0,
            ..Gates::default()
        };
        assert!(check(&old, &fewer, &off).is_empty());
        let mut sold_out = old.clone();
        for item in sold_out.categories[0].items.iter_mut().take(21) {
            item.sold_out = true;
        }
        assert_eq!(check(&old, &sold_out, &Gates::default()).len(), 1);
        sold_out.categories[0].items[20].sold_out = false;
        assert!(
            check(&old, &sold_out, &Gates::default()).is_empty(),
            "20 is not more than 20"
        );
    }
}
