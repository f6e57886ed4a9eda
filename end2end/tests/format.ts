// Numbers as the server writes them (`app/src/components/format.rs`), so the
// browser tests can compare what a page shows with what the API returns.

// Rust's `{:.N}`: the exact binary value rounded to N decimals, an exact tie
// settled to the even digit. `toFixed` also rounds the exact value but settles
// ties upward; simulated prices have four decimals, so ties such as 187.125
// (exact in binary) do occur and are settled here.
export function fixed(value: number, decimals: number): string {
  // Thirty decimals show the exact tail of such a double: a tie is a 5 and zeros.
  const exact = Math.abs(value).toFixed(30);
  const point = exact.indexOf(".");
  const kept = exact.slice(0, point + 1 + decimals);
  const tail = exact.slice(point + 1 + decimals);
  if (/^50*$/.test(tail) && Number(kept[kept.length - 1]) % 2 === 0) {
    return (value < 0 ? "-" : "") + kept;
  }
  return value.toFixed(decimals);
}

// `format::price`: two decimals, or four below 1.0.
export function formatPrice(value: number): string {
  return fixed(value, Math.abs(value) < 1 ? 4 : 2);
}

// `format::number`: two decimals from 100 on, three from 1, else four.
export function formatNumber(value: number): string {
  const magnitude = Math.abs(value);
  return fixed(value, magnitude >= 100 ? 2 : magnitude >= 1 ? 3 : 4);
}
