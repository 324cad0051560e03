"""Traditional -> simplified Chinese for characters common in company names.

A small hand-made table instead of a conversion library: company names use a narrow vocabulary (industry
words, place names, legal forms), and a one-to-one character map is enough for them. Characters whose
traditional form has several simplified readings in general text are mapped to their company-name reading.
"""

from __future__ import annotations

# Pairs "traditional simplified", space separated; grouped loosely by theme for review.
_PAIRS = """
國国 華华 業业 電电 廣广 東东 島岛 門门 龍龙 鋼钢 鐵铁 車车 發发 開开 設设 計计 資资 產产 務务 實实
體体 藥药 醫医 療疗 險险 證证 貿贸 億亿 萬万 與与 興兴 長长 進进 運运 輸输 網网 絡络 訊讯 軟软 價价
團团 區区 廠厂 礦矿 機机 氣气 銀银 碼码 數数 據据 雲云 廈厦 視视 聽听 樂乐 藝艺 術术 館馆 書书 報报
傳传 紡纺 織织 綫线 線线 纜缆 絲丝 綢绸 裝装 飾饰 漢汉 灣湾 蘇苏 滬沪 遼辽 黃黄 陝陕 臺台 湯汤 濟济
齊齐 魯鲁 葉叶 鄭郑 劉刘 陳陈 楊杨 趙赵 馬马 環环 節节 儲储 續续 純纯 紙纸 鹽盐 輕轻 錶表 鐘钟 齒齿
輪轮 軸轴 維维 綠绿 農农 場场 漁渔 衛卫 營营 銷销 購购 貨货 費费 財财 會会 師师 擔担 協协 聯联 際际
輝辉 煉炼 燈灯 熱热 點点 爐炉 錢钱 債债 額额 匯汇 滙汇 兌兑 貸贷 寶宝 圓圆 園园 買买 賣卖 倉仓 儀仪
測测 試试 驗验 檢检 學学 員员 總总 經经 辦办 處处 構构 橋桥 樓楼 層层 礎础 築筑 溫温 濕湿 潤润 澤泽
閩闽 贛赣 蘭兰 寧宁 瀋沈 陽阳 豐丰 順顺 達达 遠远 飛飞 鵬鹏 鳳凤 馳驰 騰腾 駿骏 勝胜 聖圣 恆恒 權权
優优 勢势 質质 單单 雙双 專专 製制 糧粮 飲饮 飯饭 釀酿 啟启 創创 動动 極极 態态 夢梦 鏈链 歐欧 亞亚
紐纽 約约 遊游 戲戏 劇剧 廳厅 鋁铝 銅铜 鋅锌 錫锡 鎳镍 鈦钛 鑄铸 鍛锻 鍍镀 纖纤 膠胶 漿浆 彈弹 韓韩
義义 禮礼 眾众 衆众 莊庄 爲为 為为 來来 時时 間间 關关 係系 對对 應应 現现 問问 題题 麗丽 嶺岭 峽峡
鄉乡 鎮镇 縣县 號号 碩硕 雜杂 誌志 語语 譯译 說说 讀读 課课 講讲 訓训 論论 議议 評评 調调 諮咨 詢询
顧顾 錄录 紀纪 錦锦 繡绣 綿绵 紅红 藍蓝 銘铭 鋒锋 鍵键 鏡镜 觀观 覽览 顯显 寫写 畫画 獎奖 輔辅 導导
遞递 郵邮 驛驿 軌轨 輛辆 隊队 陸陆 潔洁 淨净 滿满 濱滨 湧涌 頭头 頂顶 項项 預预 領领 風风 颱台 驅驱
騎骑 魚鱼 鮮鲜 鳥鸟 鴻鸿 鶴鹤 麥麦 黨党 廣广 舊旧 燃燃 氫氢 鉀钾 礬矾 鈣钙 鋰锂 鈷钴 鎢钨 鉬钼 煙烟
捲卷 櫃柜 檯台 傢家 俱俱 燈灯 鍋锅 爐炉 壓压 縮缩 閥阀 灘滩 標标 準准 規规 劃划 測测 繪绘 勘勘 噴喷
錄录 盤盘 贏赢 創创 彙汇 聚聚 廚厨 衛卫 癒愈 護护 齡龄 殯殡 葬葬 墾垦 養养 殖殖 種种 貓猫 豬猪 雞鸡
鴨鸭 飼饲 織织 紗纱 針针 緞缎 縫缝 紉纫 鞋鞋 襪袜 傘伞 裡里 內内 陰阴 濤涛 瀾澜 灝灏 滬沪 鄂鄂 蜀蜀
"""


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for pair in _PAIRS.split():
        traditional, simplified = pair[0], pair[1]
        if len(pair) != 2:
            raise ValueError(f"bad traditional/simplified pair: {pair!r}")
        if traditional != simplified:  # identical pairs are listed only as reminders that they need no mapping
            table[ord(traditional)] = simplified
    return table


TRADITIONAL_TO_SIMPLIFIED: dict[int, str] = _build_table()


# Most names have no traditional character: a set test is far cheaper than translate() with a dict table.
_TRADITIONAL_CHARACTERS: frozenset[str] = frozenset(chr(code) for code in TRADITIONAL_TO_SIMPLIFIED)


def to_simplified(text: str) -> str:
    """Map the traditional characters of the table to simplified; others are kept as they are."""
    if _TRADITIONAL_CHARACTERS.isdisjoint(text):
        return text
    return text.translate(TRADITIONAL_TO_SIMPLIFIED)
