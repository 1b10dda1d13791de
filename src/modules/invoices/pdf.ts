import type { InvoiceView } from './invoices.views.ts';

/**
 * A one-page invoice PDF written by hand (PDF 1.4, the standard Helvetica font, no dependency): header, number,
 * customer, period, one row per line item and the totals. Text is printable ASCII (anything else becomes `?`), so
 * the standard font's encoding needs no embedding. Lines beyond what fits on the page are summarised in one row.
 */
const PAGE_WIDTH = 595; // A4 in points
const PAGE_HEIGHT = 842;
const MAX_LINE_ROWS = 40;

function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/** A PDF string literal: backslash, parentheses escaped. */
function literal(text: string): string {
  return `(${ascii(text).replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

export function renderInvoicePdf(invoice: InvoiceView): Buffer {
  const currency = invoice.currency.toUpperCase();
  const rows: Array<{ x: number; y: number; size: number; text: string }> = [];
  let y = PAGE_HEIGHT - 60;
  const put = (x: number, text: string, size = 10) => rows.push({ x, y, size, text });
  put(50, 'INVOICE', 20);
  y -= 28;
  put(50, `Invoice number: ${invoice.invoice_number ?? 'DRAFT (no number yet)'}`);
  y -= 14;
  put(50, `Invoice id: ${invoice.id}`);
  y -= 14;
  put(50, `Status: ${invoice.invoice_status} / payment ${invoice.payment_status}`);
  y -= 14;
  const customer = invoice.customer;
  put(50, `Customer: ${clip(customer ? `${customer.name} (${customer.external_id})` : invoice.customer_id, 80)}`);
  y -= 14;
  if (invoice.period_start || invoice.period_end) {
    put(50, `Period: ${invoice.period_start ?? '-'} to ${invoice.period_end ?? '-'}`);
    y -= 14;
  }
  if (invoice.due_date) {
    put(50, `Due date: ${invoice.due_date}`);
    y -= 14;
  }
  y -= 14;
  put(50, 'Description', 11);
  put(360, 'Quantity', 11);
  put(460, `Amount (${currency})`, 11);
  y -= 16;
  const lines = invoice.line_items ?? [];
  for (const line of lines.slice(0, MAX_LINE_ROWS)) {
    put(50, clip(line.display_name || line.price_id || 'Item', 50));
    put(360, clip(line.quantity, 14));
    put(460, line.amount);
    y -= 13;
  }
  if (lines.length > MAX_LINE_ROWS) {
    put(50, `... and ${lines.length - MAX_LINE_ROWS} more line items`);
    y -= 13;
  }
  y -= 12;
  const totals: Array<[string, string]> = [
    ['Subtotal', invoice.subtotal],
    ['Discount', invoice.total_discount],
    ['Prepaid credits applied', invoice.total_prepaid_credits_applied],
    ['Tax', invoice.total_tax],
    ['Total', invoice.total],
    ['Amount paid', invoice.amount_paid],
    ['Amount remaining', invoice.amount_remaining],
  ];
  for (const [label, value] of totals) {
    put(300, label, label === 'Total' ? 12 : 10);
    put(460, `${value} ${currency}`, label === 'Total' ? 12 : 10);
    y -= 14;
  }

  const content = rows.map((r) => `BT /F1 ${r.size} Tf ${r.x} ${r.y} Td ${literal(r.text)} Tj ET`).join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${PAGE_WIDTH} ${PAGE_HEIGHT}] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}
