"""HTML of the hosted pay page and the cabinet overview (inline, no external assets)."""
from __future__ import annotations

PAY_PAGE = """<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} — оплата / payment</title>
<style>
 body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; padding: 2rem 1rem; }
 main { max-width: 26rem; margin: 0 auto; background: #fff; border-radius: .75rem; padding: 1.5rem;
        box-shadow: 0 1px 4px rgba(0,0,0,.1); }
 h1 { font-size: 1.1rem; margin: 0 0 1rem; color: #555; }
 .amount { font-size: 2rem; font-weight: 600; margin: .25rem 0 1rem; }
 .status { padding: .5rem .75rem; border-radius: .5rem; background: #eef; }
 .buttons { display: flex; gap: .75rem; margin-top: 1.25rem; }
 button { flex: 1; font-size: 1rem; padding: .75rem; border-radius: .5rem; border: 0; cursor: pointer; }
 .pay { background: #1a7f37; color: #fff; } .decline { background: #ddd; }
 .qr { text-align: center; margin-top: 1rem; } small { color: #777; }
</style>
</head>
<body>
<main>
 <h1>{{ title }} · тестовая оплата / sandbox payment</h1>
 <div>Сумма / Amount</div>
 <div class="amount" data-kopecks="{{ amount }}">{{ amount_text }} ₽</div>
 {% if description %}<p>{{ description }}</p>{% endif %}
 {% if is_open %}
 <form method="post">
  <div class="buttons">
   <button class="pay" name="action" value="pay">Оплатить / Pay</button>
   <button class="decline" name="action" value="decline">Отклонить / Decline</button>
  </div>
 </form>
 {% if qr_svg %}<div class="qr">{{ qr_svg }}<br><small>СБП / SBP</small></div>{% endif %}
 {% else %}
 <p class="status">Статус / Status: <strong>{{ status }}</strong></p>
 {% endif %}
 <p><small>Песочница PokerPay: деньги не списываются. / PokerPay sandbox: no real money moves.</small></p>
</main>
</body>
</html>"""

OVERVIEW = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Providers sandbox</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem} td,th{padding:.2rem .6rem;text-align:left}
table{border-collapse:collapse} tr:nth-child(even){background:#f3f3f3}</style></head>
<body>
<h1>Providers sandbox — кабинет / cabinet</h1>
<h2>Accounts</h2>
<table><tr><th>provider</th><th>account</th><th>notification URL</th></tr>
{% for a in accounts %}<tr><td>{{ a.provider }}</td><td>{{ a.key }}</td><td>{{ a.notification_url or "—" }}</td></tr>
{% endfor %}</table>
<h2>Payments</h2>
<table><tr><th>provider</th><th>id</th><th>order</th><th>amount</th><th>status</th><th></th></tr>
{% for p in payments %}<tr><td>{{ p.provider }}</td><td>{{ p.id }}</td><td>{{ p.order_id }}</td>
<td>{{ p.amount_text }}</td><td>{{ p.status }}</td><td><a href="{{ p.url }}">open</a></td></tr>
{% endfor %}</table>
</body></html>"""
