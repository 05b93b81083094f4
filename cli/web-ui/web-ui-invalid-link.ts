/**
 * The page a browser gets for a web UI link without a valid token (an old
 * link from before the profile kept its token, a mistyped or cut-off one):
 * what happened and how to get the right link, in English and Chinese.
 * Plain HTML: the CSP forbids inline styles and scripts, and none are needed.
 */

export function invalidLinkPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Pigeon: this link is not valid</title>
</head>
<body>
<main id="invalid-link">
<h1>This Pigeon link is not valid (any more)</h1>
<p>The address of the Pigeon web UI carries an access key. This one is old, mistyped or cut off.</p>
<p>To get the current link, run this on the computer where Pigeon runs, and open the address it prints:</p>
<pre><code>pigeon ui</code></pre>
<p>(Add <code>--home &lt;folder&gt;</code> if Pigeon runs with another profile. If Pigeon is not running, start it with <code>pigeon peer --ui</code>.)</p>
<hr>
<h1 lang="zh-CN">此 Pigeon 链接无效（或已失效）</h1>
<p lang="zh-CN">Pigeon 网页界面的地址中包含访问密钥，此链接已过期、输入有误或不完整。</p>
<p lang="zh-CN">请在运行 Pigeon 的电脑上执行以下命令，然后打开它打印的地址：</p>
<pre><code>pigeon ui</code></pre>
<p lang="zh-CN">（如果 Pigeon 使用其他配置文件夹，请加上 <code>--home &lt;文件夹&gt;</code>。如果 Pigeon 未运行，请用 <code>pigeon peer --ui</code> 启动。）</p>
</main>
</body>
</html>
`;
}
