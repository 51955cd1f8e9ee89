package demo

// The units the demo registers, and the words it writes. Unit ids, types
// and parents follow the comments of the seed plan files (deploy/plans);
// which units are registered is read from the plans themselves (their
// applies_to), so a unit a plan names that is not listed here is still
// registered, under its id.

// unitDef is a unit as the demo registers it.
type unitDef struct {
	ID, Name, Type, Parent string
	Short                  string // how titles name it
	Headcount              int    // people for villages and communities, staff otherwise
	Pos                    *gps   // where its photos are taken (EXIF GPS), if known
}

var (
	haikou   = &gps{19.832, 110.431} // the 雙創 town (海口)
	hongshan = &gps{30.505, 114.343} // 洪山區, 武漢
)

// knownUnits in registration order: parents before children.
var knownUnits = []unitDef{
	{ID: "hongshan-qu", Name: "武漢市洪山區", Type: "district", Short: "洪山區", Pos: hongshan},
	{ID: "zhen-zhengfu", Name: "××鎮黨委、鎮政府", Type: "town", Short: "鎮", Headcount: 86, Pos: haikou},
	{ID: "nongye-ju", Name: "××縣農業局", Type: "bureau", Short: "縣農業局", Headcount: 62},
	{ID: "hongshan-fulian", Name: "洪山區婦女聯合會", Type: "federation", Parent: "hongshan-qu", Short: "區婦聯", Headcount: 16, Pos: hongshan},

	{ID: "cun-1", Name: "東坡村委會", Type: "village", Parent: "zhen-zhengfu", Short: "東坡村", Headcount: 2380, Pos: haikou},
	{ID: "cun-2", Name: "西嶺村委會", Type: "village", Parent: "zhen-zhengfu", Short: "西嶺村", Headcount: 1460, Pos: haikou},
	{ID: "cun-3", Name: "南塘村委會", Type: "village", Parent: "zhen-zhengfu", Short: "南塘村", Headcount: 1875, Pos: haikou},
	{ID: "cun-4", Name: "北港村委會", Type: "village", Parent: "zhen-zhengfu", Short: "北港村", Headcount: 960, Pos: haikou},
	{ID: "cun-5", Name: "上林村委會", Type: "village", Parent: "zhen-zhengfu", Short: "上林村", Headcount: 2710, Pos: haikou},
	{ID: "cun-6", Name: "下洋村委會", Type: "village", Parent: "zhen-zhengfu", Short: "下洋村", Headcount: 1290, Pos: haikou},
	{ID: "juweihui", Name: "鎮墟居委會", Type: "community", Parent: "zhen-zhengfu", Short: "鎮墟社區", Headcount: 2940, Pos: haikou},
	{ID: "zhen-zhongxue", Name: "××鎮中學", Type: "school", Parent: "zhen-zhengfu", Short: "鎮中學", Headcount: 38, Pos: haikou},
	{ID: "zhen-xiaoxue", Name: "××鎮中心小學", Type: "school", Parent: "zhen-zhengfu", Short: "中心小學", Headcount: 32, Pos: haikou},
	{ID: "zhen-youeryuan", Name: "××鎮中心幼兒園", Type: "school", Parent: "zhen-zhengfu", Short: "中心幼兒園", Headcount: 14, Pos: haikou},
	{ID: "guihua-suo", Name: "××鎮規劃所", Type: "station", Parent: "zhen-zhengfu", Short: "規劃所", Headcount: 12, Pos: haikou},
	{ID: "caizheng-suo", Name: "××鎮財政所", Type: "station", Parent: "zhen-zhengfu", Short: "財政所", Headcount: 15, Pos: haikou},
	{ID: "xumu-zhan", Name: "××鎮畜牧站", Type: "station", Parent: "zhen-zhengfu", Short: "畜牧站", Headcount: 18, Pos: haikou},

	{ID: "zhongzi-guanlizhan", Name: "××縣種子管理站", Type: "station", Parent: "nongye-ju", Short: "種子管理站", Headcount: 24},
	{ID: "nongguangxiao", Name: "××縣農業廣播電視學校", Type: "station", Parent: "nongye-ju", Short: "農廣校", Headcount: 36},

	{ID: "hongshan-shequ-01", Name: "楓林社區居委會", Type: "community", Parent: "hongshan-qu", Short: "楓林社區", Headcount: 6420, Pos: hongshan},
	{ID: "hongshan-shequ-02", Name: "桂園社區居委會", Type: "community", Parent: "hongshan-qu", Short: "桂園社區", Headcount: 5180, Pos: hongshan},
	{ID: "hongshan-shequ-03", Name: "雅苑社區居委會", Type: "community", Parent: "hongshan-qu", Short: "雅苑社區", Headcount: 7350, Pos: hongshan},
	{ID: "hongshan-shequ-04", Name: "和平里社區居委會", Type: "community", Parent: "hongshan-qu", Short: "和平里社區", Headcount: 4890, Pos: hongshan},
	{ID: "hongshan-shequ-05", Name: "春華社區居委會", Type: "community", Parent: "hongshan-qu", Short: "春華社區", Headcount: 8260, Pos: hongshan},
	{ID: "hongshan-shequ-06", Name: "錦繡社區居委會", Type: "community", Parent: "hongshan-qu", Short: "錦繡社區", Headcount: 5740, Pos: hongshan},
	{ID: "hongshan-shequ-07", Name: "書香社區居委會", Type: "community", Parent: "hongshan-qu", Short: "書香社區", Headcount: 6910, Pos: hongshan},
	{ID: "hongshan-shequ-08", Name: "青園社區居委會", Type: "community", Parent: "hongshan-qu", Short: "青園社區", Headcount: 4370, Pos: hongshan},
	{ID: "hongshan-shequ-09", Name: "湖景社區居委會", Type: "community", Parent: "hongshan-qu", Short: "湖景社區", Headcount: 9120, Pos: hongshan},
	{ID: "hongshan-shequ-10", Name: "新村社區居委會", Type: "community", Parent: "hongshan-qu", Short: "新村社區", Headcount: 5530, Pos: hongshan},
}

// gapSpec is how a unit falls short of its plans, deliberately.
type gapSpec struct {
	Skip    []string            // requirements with no evidence at all
	Slots   map[string][]string // requirement → periods (their first day) or windows with one item too few
	Ratio   float64             // the ratio the latest report shows, if below the rule
	Late    map[string]int      // deadline requirement → days late
	OffMenu map[string]string   // menu requirement → month (YYYY-MM) where one item carries an off-menu tag
}

// gaps are the units that are not fully compliant, and why. Every other
// unit is evidenced in full.
var gaps = map[string]gapSpec{
	"cun-3":             {Ratio: 0.076, Slots: map[string][]string{"our-festivals": {"重陽節"}}},
	"cun-4":             {Slots: map[string][]string{"door-to-door": {"2016-11-01", "2016-12-01"}}},
	"zhen-xiaoxue":      {Skip: []string{"school-theme-sasao", "school-drawing-contest"}},
	"caizheng-suo":      {Skip: []string{"chinese-dream-summary"}},
	"xumu-zhan":         {Skip: []string{"moral-model-board"}},
	"hongshan-shequ-06": {Slots: map[string][]string{"monthly-courses": {"2016-07-01", "2016-08-01"}}},
	"hongshan-shequ-07": {OffMenu: map[string]string{"monthly-courses": "2016-10"}},
	"hongshan-shequ-08": {Late: map[string]int{"needs-survey": 7}},
	"hongshan-shequ-09": {Skip: []string{"satisfaction-survey"}},
	"nongguangxiao":     {Skip: []string{"led-board"}, Slots: map[string][]string{"column": {"2017-10-01"}}},
}

// reqText is how the demo writes items for one requirement. Titles are
// templates: {u} the unit's short name, {d} the date (6月9日), {m} the
// month (7), {n} the item's ordinal, {w} the window or period, {t} the tag
// chosen from the requirement's menu.
type reqText struct {
	Titles []string
	Doc    string // the document's name (工作方案, 會議記錄, …)
	Kind   string // the preferred evidence kind
	Near   string // preferred dates, "MM-DD..MM-DD"
	Tags   []string
	Body   string
	Scene  int // photo scene + 1 (0: decided by kind)
}

// texts by "plan/requirement" or "requirement".
var texts = map[string]reqText{
	// 雙創 (shuangchuang-2016)
	"weisheng-declaration":      {Titles: []string{"創建國家衛生城市申報材料（涉及我鎮部分）"}, Doc: "申報材料", Near: "03-01..05-31", Body: "按市愛衛辦要求整理涉及我鎮的申報材料，經鎮主要領導審核後報送。"},
	"weisheng-organization":     {Titles: []string{"對照《國家衛生城市標準》愛國衛生組織管理自查報告"}, Doc: "自查報告", Near: "09-20..10-28", Body: "對照標準逐條查漏補缺，列出問題清單和整改時限。"},
	"weisheng-health-education": {Titles: []string{"健康教育和健康促進自查報告"}, Doc: "自查報告", Near: "09-20..10-28", Body: "對照標準逐條查漏補缺，列出問題清單和整改時限。"},
	"weisheng-city-sanitation":  {Titles: []string{"市容環境衛生自查報告"}, Doc: "自查報告", Near: "09-20..10-28", Body: "對照標準逐條查漏補缺，列出問題清單和整改時限。"},
	"weisheng-environment":      {Titles: []string{"環境保護自查報告"}, Doc: "自查報告", Near: "09-20..10-28", Body: "對照標準逐條查漏補缺，列出問題清單和整改時限。"},
	"weisheng-key-places":       {Titles: []string{"重點場所衛生自查報告"}, Doc: "自查報告", Near: "09-20..10-28", Body: "對照標準逐條查漏補缺，列出問題清單和整改時限。"},
	"weisheng-food-water":       {Titles: []string{"食品和生活飲用水安全自查報告"}, Doc: "自查報告", Near: "09-20..10-28", Body: "對照標準逐條查漏補缺，列出問題清單和整改時限。"},
	"weisheng-public-health":    {Titles: []string{"公共衛生和醫療服務自查報告"}, Doc: "自查報告", Near: "09-20..10-28", Body: "對照標準逐條查漏補缺，列出問題清單和整改時限。"},
	"weisheng-vectors":          {Titles: []string{"病媒生物預防控制自查報告（密度控制水平C級）"}, Doc: "自查報告", Near: "09-20..10-28", Body: "鼠、蚊、蠅、蟑螂密度監測結果均達到C級要求。"},
	"study-system":              {Titles: []string{"黨政辦、宣傳辦學習制度"}, Doc: "學習制度", Near: "01-11..02-26"},
	"study-plan":                {Titles: []string{"{u}2016年學習方案及學習計劃"}, Doc: "學習方案", Near: "01-11..03-15"},
	"study-sessions": {Titles: []string{"{u}集中學習：學習“兩學一做”學習教育實施方案", "{u}集中學習：學習《中國共產黨廉潔自律準則》",
		"{u}集中學習：學習習近平總書記系列重要講話", "{u}集中學習：學習《中國共產黨紀律處分條例》"}, Doc: "學習記錄", Kind: "study_note", Tags: []string{"集中學習"}},
	"chinese-dream-plan":                     {Titles: []string{"{u}中國特色社會主義和中國夢學習教育工作方案"}, Doc: "工作方案", Near: "03-01..05-20"},
	"chinese-dream-activity":                 {Titles: []string{"{u}“中國夢”主題學習教育活動"}, Near: "05-20..08-31", Tags: []string{"中國夢"}, Body: "組織觀看專題片，開展“我的中國夢”座談交流。"},
	"chinese-dream-summary":                  {Titles: []string{"{u}中國夢學習教育工作總結"}, Doc: "工作總結", Kind: "summary", Near: "09-01..11-30"},
	"core-values-recital":                    {Titles: []string{"{u}干部職工熟誦社會主義核心價值觀24字抽查記錄"}, Doc: "抽查記錄", Kind: "document", Body: "逐人抽查背誦，全體干部職工均能熟誦。"},
	"public-service-ads":                     {Titles: []string{"{u}宣傳欄文明創建公益廣告"}, Kind: "photo", Tags: []string{"公益廣告"}, Near: "03-01..06-30", Scene: sceneBoard + 1},
	"school-public-ads":                      {Titles: []string{"{u}開展文明創建公益廣告宣傳"}, Kind: "activity", Near: "04-01..06-30", Scene: sceneBoard + 1},
	"integrity-campaign":                     {Titles: []string{"誠信宣傳教育實踐活動進村入戶"}, Near: "05-01..07-31"},
	"credit-red-black-list":                  {Titles: []string{"××鎮誠信紅黑榜制度及誠信獎懲辦法"}, Doc: "制度", Near: "04-01..06-30"},
	"volunteer-system":                       {Titles: []string{"青年志願服務隊招募注冊、培訓管理、記錄評價、激勵保障制度"}, Doc: "制度", Near: "06-01..07-20"},
	"volunteer-ratio":                        {Titles: []string{"{u}志願者注冊登記名冊（志願平臺導出）"}, Doc: "志願者名冊", Tags: []string{"志願者"}},
	"party-member-volunteering":              {Titles: []string{"在職黨員到社區報到開展志願服務"}, Near: "07-01..08-31"},
	"volunteer-proposal":                     {Titles: []string{"面向志願服務隊成員發出《“雙創”倡議書》"}, Doc: "倡議書", Near: "07-05..07-25"},
	"volunteer-activities":                   {Titles: []string{"“雙創”志願服務活動：清理衛生死角"}, Near: "07-15..08-31"},
	"our-festivals":                          {Titles: []string{"{u}“我們的節日·{w}”主題活動"}, Tags: []string{"我們的節日"}},
	"online-civility-volunteers":             {Titles: []string{"網絡文明傳播志願者隊伍注冊情況"}, Doc: "注冊名單", Near: "07-10..08-10"},
	"school-theme-martyrs":                   {Titles: []string{"{u}“網上祭英烈”主題活動"}, Doc: "活動記錄", Near: "03-28..04-06", Scene: sceneClass + 1},
	"school-theme-leifeng":                   {Titles: []string{"{u}“學習雷鋒 爭做美德少年”主題活動"}, Doc: "活動記錄", Near: "03-01..03-11"},
	"school-theme-party-songs":               {Titles: []string{"{u}“童聲向黨”歌詠比賽"}, Doc: "活動記錄", Near: "06-20..07-01", Scene: sceneClass + 1},
	"school-theme-classics":                  {Titles: []string{"{u}“經典誦讀”比賽"}, Doc: "活動記錄", Near: "04-15..05-20", Scene: sceneClass + 1},
	"school-theme-good-deed":                 {Titles: []string{"{u}“日行一善”主題活動"}, Doc: "活動記錄", Near: "05-03..06-30"},
	"school-theme-sasao":                     {Titles: []string{"{u}“灑掃應對”養成教育活動"}, Doc: "活動記錄", Near: "09-05..10-28"},
	"school-theme-little-volunteer":          {Titles: []string{"{u}“小小志願者”進社區活動"}, Doc: "活動記錄", Near: "10-08..11-30"},
	"moral-model-board":                      {Titles: []string{"{u}道德模範宣傳欄"}, Kind: "photo", Near: "03-01..06-30", Scene: sceneBoard + 1},
	"good-deeds-board":                       {Titles: []string{"{u}“善行義舉”榜"}, Kind: "photo", Near: "03-01..06-30", Scene: sceneBoard + 1},
	"family-motto-collection":                {Titles: []string{"{u}家風家訓收集展示活動"}, Near: "04-01..08-31", Body: "收集整理村民家風家訓，制作展板在文化室展示。"},
	"selection-five-good-families":           {Titles: []string{"{u}“五好家庭”評選表彰"}, Near: "05-01..10-31"},
	"selection-good-children":                {Titles: []string{"{u}“好兒女”評選表彰"}, Near: "05-01..10-31"},
	"selection-good-in-laws":                 {Titles: []string{"{u}“好婆媳”評選表彰"}, Near: "05-01..10-31"},
	"selection-good-couples":                 {Titles: []string{"{u}“好夫妻”評選表彰"}, Near: "05-01..10-31"},
	"selection-good-neighbours":              {Titles: []string{"{u}“好鄰居”評選表彰"}, Near: "05-01..10-31"},
	"selection-good-youth":                   {Titles: []string{"{u}“好少年”評選表彰"}, Near: "05-01..10-31"},
	"sanyan-sanshi-system":                   {Titles: []string{"“三嚴三實”專題教育制度"}, Doc: "制度", Near: "01-11..03-31"},
	"health-education":                       {Titles: []string{"{u}健康知識宣傳普及活動"}, Near: "04-07..11-30", Body: "邀請衛生院醫生講解傳染病預防和健康生活方式，發放宣傳資料。"},
	"leaflets":                               {Titles: []string{"制作發放“雙創”宣傳單和宣傳品"}, Near: "07-04..07-29"},
	"knowledge-quiz":                         {Titles: []string{"全鎮干部職工“雙創”知識問答"}, Near: "08-01..08-31", Scene: sceneMeeting + 1},
	"family-contest":                         {Titles: []string{"“雙創你我他，全家總動員”知識競賽"}, Near: "08-10..09-08"},
	"demo-community":                         {Titles: []string{"“雙創”宣傳示範社區建成（鎮墟社區）"}, Kind: "photo", Near: "08-22..09-16"},
	"door-to-door":                           {Titles: []string{"{u}志願者入戶宣傳“雙創”知識及模擬問卷調查（{m}月）"}, Tags: []string{"入戶宣傳"}},
	"market-day-publicity":                   {Titles: []string{"趕集日“雙創”流動宣傳"}, Near: "07-10..08-31"},
	"arts-troupe":                            {Titles: []string{"“雙創”文藝宣傳隊進村演出"}, Near: "08-01..10-31"},
	"website-column":                         {Titles: []string{"鎮政府網站“雙創”工作專欄（截圖）"}, Kind: "photo", Near: "07-04..07-29", Scene: sceneScreen + 1},
	"sms-wechat":                             {Titles: []string{"“雙創”微信平臺推送文明衛生常識（截圖）"}, Kind: "photo", Near: "07-15..11-30", Scene: sceneScreen + 1},
	"school-drawing-contest":                 {Titles: []string{"{u}“雙創”繪畫大賽"}, Near: "09-05..10-28", Scene: sceneClass + 1},
	"school-knowledge-contest":               {Titles: []string{"{u}“雙創”知識比賽"}, Doc: "比賽記錄", Near: "09-05..11-15", Scene: sceneClass + 1},
	"reading-festival":                       {Titles: []string{"“書香福地”讀書節活動"}, Near: "04-20..04-27"},
	"victory-70th":                           {Titles: []string{"紀念勝利70周年主題活動"}, Near: "09-01..09-05"},
	"fire-facilities":                        {Titles: []string{"公共消防設施檢查記錄"}, Doc: "檢查記錄", Near: "08-15..10-15", Body: "檢查公共消防設施128處，完好率100%，消防通道暢通。"},
	"shuangchuang-2016/organization-setup":   {Titles: []string{"關于成立“雙創”工作領導小組及指揮部的通知（附三年規劃和年度實施方案）"}, Doc: "通知"},
	"shuangchuang-2016/mobilization-meeting": {Titles: []string{"全鎮“雙創”工作動員大會"}, Scene: sceneMeeting + 1},
	"mock-evaluation":                        {Titles: []string{"“雙創”模擬測評問題清單及整改培訓"}, Doc: "問題清單"},
	"wenming-materials":                      {Titles: []string{"全國文明城市測評材料收集整理"}, Doc: "測評材料目錄", Near: "09-12..09-28"},
	"normal-management":                      {Titles: []string{"“雙創”常態化管理長效機制"}, Doc: "制度"},
	"leading-group-report":                   {Titles: []string{"“雙創”領導小組聽取指揮部工作匯報（{m}月）"}, Doc: "會議記錄", Scene: sceneMeeting + 1},
	"vice-leader-meetings":                   {Titles: []string{"領導小組副組長“雙創”工作推進會（{m}月）"}, Doc: "會議記錄", Scene: sceneMeeting + 1},
	"command-reports":                        {Titles: []string{"指揮部聽取各內設組情況匯報（{m}月第{n}次）"}, Doc: "會議記錄", Scene: sceneMeeting + 1},
	"group-weekly-meetings":                  {Titles: []string{"指揮部內設組周例會（{d}）"}, Doc: "例會記錄", Kind: "document"},
	"briefings":                              {Titles: []string{"“雙創”工作簡報第{n}期"}, Doc: "工作簡報"},
	"monthly-ranking":                        {Titles: []string{"{m}月“雙創”考核測評排名通報"}, Doc: "排名通報"},

	// 廉政文化示范點 (lianzheng-wenhua-2017)
	"leading-group":         {Titles: []string{"關于成立廉政文化示範點建設領導小組的通知"}, Doc: "通知", Near: "04-05..04-20"},
	"art-works":             {Titles: []string{"{u}廉政書畫作品展示"}, Kind: "photo", Scene: sceneBoard + 1},
	"column":                {Titles: []string{"{u}廉政文化專欄更新（{w}）"}, Kind: "photo", Scene: sceneBoard + 1},
	"led-board":             {Titles: []string{"{u}廉政LED宣傳屏滾動播放黨風廉政信息"}, Kind: "photo", Scene: sceneScreen + 1},
	"maxims-on-wall":        {Titles: []string{"{u}廉政格言警句（{t}）"}, Kind: "photo", Scene: sceneBoard + 1},
	"book-corner":           {Titles: []string{"{u}“廉政圖書角”"}, Kind: "photo", Scene: sceneClass + 1},
	"theme-boards":          {Titles: []string{"{u}廉政文化主題展板"}, Kind: "photo", Scene: sceneBoard + 1},
	"warning-signs":         {Titles: []string{"{u}廉政警示牌"}, Kind: "photo", Scene: sceneBoard + 1},
	"public-ads-exhibition": {Titles: []string{"{u}{t}"}, Kind: "activity", Scene: sceneBoard + 1},
	"new-media":             {Titles: []string{"{u}通過{t}發布廉政文化內容（截圖）"}, Kind: "photo", Scene: sceneScreen + 1},
	"family-style-place":    {Titles: []string{"{u}廉潔家風主題室"}, Kind: "photo", Scene: sceneClass + 1},
	"family-booklet":        {Titles: []string{"{u}家訓文化小冊子"}, Kind: "document", Doc: "家訓文化小冊子"},
	"guestbook":             {Titles: []string{"{u}感悟家風留言本"}, Kind: "photo", Scene: sceneBoard + 1},
	"family-activities":     {Titles: []string{"{u}“{t}”活動"}, Kind: "activity", Scene: sceneMeeting + 1},
	"archive":               {Titles: []string{"{u}廉政文化示範點創建資料歸檔（{w}）"}, Doc: "資料目錄"},
	"lianzheng-wenhua-2017/experience-summary": {Titles: []string{"{u}廉政文化示範點創建經驗總結"}, Doc: "經驗總結", Kind: "summary", Near: "11-15..12-20"},
	"news-reports": {Titles: []string{"{u}創建工作{t}"}, Kind: "document", Doc: "信息稿"},

	// 社區家庭服務中心 (shequ-jiating-2016)
	"select-communities":                      {Titles: []string{"關于確定10個社區家庭服務中心創建社區的決定"}, Doc: "決定", Body: "經實地考察，確定群眾參與意願強、基礎條件好的10個社區納入實事項目建設範圍。"},
	"shequ-jiating-2016/mobilization-meeting": {Titles: []string{"全區社區家庭服務中心建設工作動員部署會"}, Scene: sceneMeeting + 1},
	"needs-survey":                            {Titles: []string{"{u}居民家庭服務需求調研報告"}, Doc: "調研報告"},
	"build-plan":                              {Titles: []string{"{u}社區家庭服務中心建設方案"}, Doc: "建設方案"},
	"course-proposal":                         {Titles: []string{"{u}社會組織家庭服務課程方案"}, Doc: "課程方案"},
	"service-agreement":                       {Titles: []string{"{u}社區家庭服務中心運營服務協議"}, Doc: "服務協議"},
	"facilities":                              {Titles: []string{"{u}家庭服務中心功能室裝修完成及設備配置"}, Kind: "photo", Scene: sceneClass + 1},
	"monthly-courses":                         {Titles: []string{"{u}家庭服務課程：{t}"}, Kind: "activity", Scene: sceneClass + 1},
	"childrens-play":                          {Titles: []string{"區婦聯送兒童劇《小紅帽》進{u}"}, Near: "06-01..10-31"},
	"special-services":                        {Titles: []string{"{u}特色服務項目：“四點半課堂”", "{u}特色服務項目：空巢老人結對關愛"}},
	"service-team":                            {Titles: []string{"{u}“婦女工作者+專業社工+志願者”服務隊伍名冊"}, Doc: "隊伍名冊", Near: "05-01..07-31"},
	"assessment":                              {Titles: []string{"{u}社區家庭服務中心建設考核記錄"}, Doc: "考核記錄", Near: "12-05..12-28"},
	"satisfaction-survey":                     {Titles: []string{"{u}課程滿意度跟蹤評估報告"}, Doc: "評估報告", Near: "12-01..12-23"},
	"shequ-jiating-2016/experience-summary":   {Titles: []string{"洪山區社區家庭服務中心建設經驗總結"}, Doc: "經驗總結", Kind: "summary", Near: "03-01..06-30"},
}

// festivalTitles name the 我們的節日 activity of each window.
var festivalTitles = map[string]string{
	"春節":   "{u}“我們的節日·春節”寫春聯送福字活動",
	"冼夫人節": "{u}“我們的節日·冼夫人節”軍坡文化活動",
	"清明節":  "{u}“我們的節日·清明”文明祭掃宣傳活動",
	"端午節":  "{u}“我們的節日·端午”包粽子活動",
	"中秋節":  "{u}“我們的節日·中秋”鄰里賞月活動",
	"重陽節":  "{u}“我們的節日·重陽”敬老愛老活動",
}

// routines are the everyday items of a unit's ledger, by unit type: they
// name no requirement. Each is kind|title|scene (scene -1: a document).
var routines = map[string][]string{
	"town": {"document|鎮黨委會議記錄（{d}）|-1", "photo|鎮村環境衛生大檢查|2", "activity|鎮干部下村督導“雙創”工作|2",
		"document|“雙創”督查通報（{d}）|-1", "activity|鎮黨委中心組學習|1", "photo|鎮區主干道保潔|2"},
	"village": {"document|{u}兩委班子例會記錄（{m}月）|-1", "photo|{u}環境衛生整治|2", "activity|{u}黨員主題黨日活動|1",
		"document|{u}矛盾糾紛排查調處記錄|-1", "activity|{u}走訪慰問困難群眾|2", "photo|{u}村容村貌|2"},
	"community": {"document|{u}居委會例會記錄（{m}月）|-1", "photo|{u}小區環境衛生|2", "activity|{u}社區志願服務活動|2",
		"activity|{u}居民議事會|1", "document|{u}社區網格走訪記錄|-1", "activity|{u}家庭服務中心日常開放|3"},
	"school": {"activity|{u}升旗儀式|2", "activity|{u}安全教育主題班會|3", "document|{u}教職工政治學習記錄|-1",
		"photo|{u}校園環境|2", "activity|{u}家長會|3"},
	"station": {"document|{u}業務工作例會記錄（{m}月）|-1", "activity|{u}黨員學習日|1", "photo|{u}辦公環境整治|0",
		"document|{u}月度工作小結|-1"},
	"bureau":     {"document|局黨總支會議記錄（{m}月）|-1", "activity|局機關干部集中學習|1", "document|{u}督查局屬單位創建工作記錄|-1"},
	"federation": {"activity|區婦聯督導創建社區工作|1", "document|區婦聯工作例會記錄（{m}月）|-1", "activity|婦女干部業務培訓|1"},
}

// routinePerMonth is how many everyday items a unit of a type records a month.
var routinePerMonth = map[string]int{"town": 3, "village": 2, "community": 2, "school": 1, "station": 1, "bureau": 2, "federation": 2}

var (
	surnames = []rune("王李張劉陳楊黃趙吳周徐孫馬朱胡郭何林羅鄭梁謝宋唐許韓馮鄧曹彭曾蕭田董潘袁蔡蔣余杜葉程符邢")
	given    = []string{"建華", "秀英", "志強", "麗娟", "國平", "海燕", "文明", "春梅", "德勝", "玉蘭", "永忠", "小紅", "明輝", "淑芬", "家興", "美玲", "俊杰", "桂香", "振國", "慧敏"}
	places   = map[string][]string{
		"town":       {"鎮政府三樓會議室", "鎮黨群服務中心", "鎮文化廣場"},
		"village":    {"村委會會議室", "村文化室", "村文化廣場", "村黨群服務站"},
		"community":  {"社區活動室", "社區家庭服務中心", "社區居民議事廳", "小區廣場"},
		"school":     {"學校會議室", "學校操場", "多功能教室", "學校圖書室"},
		"station":    {"站（所）會議室", "辦公樓一樓大廳", "黨員活動室"},
		"bureau":     {"局機關會議室", "局黨員活動室"},
		"federation": {"區婦聯會議室", "區婦女兒童活動中心"},
		"district":   {"區政府會議室"},
	}
)
